// A trial's two panes, what the page saw of the stream (telemetry), and the presenter that shows
// stream messages on the frame clock (protocol: docs/protocol.md; the socket and clock: socket.js).

// A long answer is kept as sealed lines plus a short live tail (AnswerText). Chromium lays out a
// paragraph from its start whenever text is appended to it, so the per-frame cost of a growing
// single-paragraph answer grows with its length (5-7 ms at 20-30 KB on the development machine,
// enough to push frames past their deadline under load: docs/benchmarks.md). Every complete line
// but the last is moved, as it is, into an inline-block of the full width whose layout is cached;
// each frame then lays out only the tail. Lines are broken greedily, so a line's breaks depend
// only on the text up to it, and the sealed lines are the lines the paragraph had: the page looks
// the same, and its text (textContent, innerText) is the same.
export const SEAL_AT = 2000; // characters in the tail before its complete lines are sealed
const RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/; // bidi runs resolve per paragraph: never split those

export class AnswerText {
  constructor(element) {
    this.element = element;
    this.tail = null;
    this.width = null;
    this.range = document.createRange();
    // A sealed line was broken for one width: if the width changes, join everything again.
    new ResizeObserver(() => {
      const width = this.element.clientWidth;
      if (this.width !== null && width !== this.width && this.element.firstElementChild) this.join();
      this.width = width;
    }).observe(element);
  }

  clear() {
    this.element.textContent = "";
    this.tail = null;
  }

  join() {
    const text = this.element.textContent;
    this.clear();
    this.append(text);
  }

  append(text) {
    if (!this.tail || !this.tail.isConnected) {
      this.tail = document.createTextNode("");
      this.element.append(this.tail);
    }
    // Sealed against the layout of the last frame, before this frame changes anything.
    if (this.tail.length >= SEAL_AT) this.seal();
    this.tail.appendData(text);
  }

  top(offset) {
    this.range.setStart(this.tail, offset);
    this.range.setEnd(this.tail, offset + 1);
    return this.range.getBoundingClientRect().top;
  }

  // Move every line of the tail but its last into a sealed block.
  seal() {
    const tail = this.tail;
    if (RTL.test(tail.data)) return;
    const lastTop = this.top(tail.length - 1);
    let low = 0;
    let high = tail.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.top(middle) < lastTop - 1) low = middle + 1;
      else high = middle;
    }
    const code = tail.data.charCodeAt(low);
    if (low === 0 || (code >= 0xdc00 && code <= 0xdfff)) return;
    this.tail = tail.splitText(low);
    const sealed = document.createElement("span");
    sealed.className = "sealed";
    sealed.append(tail);
    this.element.insertBefore(sealed, this.tail);
  }
}

export class Panes {
  constructor(root) {
    this.root = root;
    this.thinkingTimers = {};
    this.answers = {};
  }

  answer(name) {
    if (!this.answers[name]) this.answers[name] = new AnswerText(this.pane(name).querySelector(".answer"));
    return this.answers[name];
  }

  pane(name) {
    return this.root.querySelector(`#pane-${name}`);
  }

  reset() {
    for (const name of ["A", "B"]) {
      const el = this.pane(name);
      this.answer(name).clear();
      el.querySelector(".reasoning-text").textContent = "";
      el.querySelector(".reasoning").hidden = true;
      this.stopThinking(name);
      el.classList.remove("done", "started");
    }
  }

  startThinking(name) {
    if (this.thinkingTimers[name]) return;
    const box = this.pane(name).querySelector(".thinking");
    const started = performance.now();
    const elapsed = box.querySelector(".elapsed");
    box.hidden = false;
    elapsed.textContent = "0";
    this.thinkingTimers[name] = setInterval(() => {
      elapsed.textContent = String(Math.floor((performance.now() - started) / 1000));
    }, 250);
  }

  stopThinking(name) {
    clearInterval(this.thinkingTimers[name]);
    delete this.thinkingTimers[name];
    this.pane(name).querySelector(".thinking").hidden = true;
  }

  show(delta) {
    const el = this.pane(delta.pane);
    el.classList.add("started");
    if (delta.phase === "thinking") {
      if (delta.text) {
        const box = el.querySelector(".reasoning");
        box.hidden = false;
        box.open = true;
        box.querySelector(".reasoning-text").append(delta.text);
      } else {
        this.startThinking(delta.pane);
      }
      return;
    }
    this.stopThinking(delta.pane);
    el.querySelector(".reasoning").open = false;
    this.answer(delta.pane).append(delta.text);
  }

  finish(name) {
    this.stopThinking(name);
    this.pane(name).classList.add("done");
  }
}

// --- telemetry -----------------------------------------------------------------------------------

export class Telemetry {
  // What the page saw, in ms after t0 on its own clock: per message its receive time and the frame
  // that first showed it; per update (the tokens of one message shown by one frame) the frame's
  // time and a conservative presentation estimate; visibility and focus changes, the frame
  // interval, the clock estimate the trial was timed with, and how often the socket reconnected.
  //
  // The presentation estimate is taken when the frame's rendering work is done: a message posted
  // from the animation-frame callback that changed the text runs only after that frame's style,
  // layout and paint (the requestPostAnimationFrame pattern), so it is never earlier than the
  // moment the change could first reach the screen. When the main thread falls behind, it moves
  // past the frame's time while the frame time does not (docs/protocol.md, Telemetry).
  constructor() {
    this.t0 = null;
    this.clock = null;
    this.frames = new Map();
    this.updates = [];
    this.awaitingPresent = [];
    this.afterPresent = [];
    this.visibility = [];
    this.focus = [];
    this.frameIntervals = [];
    this.reconnects = 0;
    this.channel = new MessageChannel();
    this.channel.port1.onmessage = () => this.presented();
    document.addEventListener("visibilitychange", () =>
      this.visibility.push([this.since(), document.visibilityState === "hidden" ? "hidden" : "visible"]),
    );
    window.addEventListener("blur", () => this.focus.push([this.since(), "blur"]));
    window.addEventListener("focus", () => this.focus.push([this.since(), "focus"]));
  }

  since(at = performance.now()) {
    return this.t0 === null ? 0 : Math.round((at - this.t0) * 1000) / 1000;
  }

  reset(t0, clock = null) {
    this.t0 = t0;
    this.clock = clock;
    this.frames.clear();
    this.updates = [];
    this.awaitingPresent = [];
    this.frameIntervals = [];
    if (document.visibilityState === "hidden") this.visibility.push([0, "hidden"]);
  }

  received(seq, at) {
    this.frames.set(seq, [seq, this.since(at), null]);
  }

  // `tokens` of message `seq` were put on the page in the frame that began at `frameTime`.
  shown(seq, tokens, frameTime) {
    const at = this.since(frameTime);
    const entry = this.frames.get(seq);
    if (entry && entry[2] === null) entry[2] = at;
    const update = [seq, tokens, at, null];
    this.updates.push(update);
    this.awaitingPresent.push(update);
  }

  // Called at the end of a frame that showed something: time its updates once its rendering is done.
  frameDone() {
    if (this.awaitingPresent.length) this.channel.port2.postMessage(null);
  }

  presented() {
    const at = this.since();
    for (const update of this.awaitingPresent) update[3] = at;
    this.awaitingPresent = [];
    const callbacks = this.afterPresent;
    this.afterPresent = [];
    callbacks.forEach((callback) => callback());
  }

  // Run `callback` once every update shown so far has its presentation estimate.
  whenPresented(callback) {
    if (this.awaitingPresent.length) this.afterPresent.push(callback);
    else callback();
  }

  frameMs() {
    if (this.frameIntervals.length < 5) return null;
    const sorted = [...this.frameIntervals].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  message(key, trial, clock) {
    return {
      type: "telemetry.submit",
      key,
      trial,
      frames: [...this.frames.values()],
      updates: this.updates,
      visibility: this.visibility,
      focus: this.focus,
      clock: this.clock || clock.estimate(),
      frame_ms: this.frameMs(),
      reconnects: this.reconnects,
    };
  }
}

// What one telemetry.submit frame may carry: its bytes (UTF-8) and the entries of each list, as
// uxlab/live/protocol.py has them (MAX_TELEMETRY_BYTES, TelemetrySubmit); the server refuses a
// frame past them. tests/live/test_telemetry_limits.py keeps the two in step.
export const TELEMETRY_LIMITS = { bytes: 1048576, frames: 50000, updates: 100000, visibility: 2000, focus: 2000 };
const TELEMETRY_LISTS = ["frames", "updates", "visibility", "focus"];

// A telemetry batch as it may be sent: the batch itself when it fits the limits, else a copy
// thinned to fit, whose `truncated` says how many entries of each list it leaves out (added to any
// the batch already left out, so thinning again changes nothing). The per-frame detail goes first:
// the updates of the latest messages, every update of a message or none (a message without updates
// is judged at its paint time); then, only if every message's own entry does not fit either, the
// latest messages' frames. Of visibility and focus changes the first ones are kept. A long trial's
// telemetry is mostly updates and frames, a few dozen bytes each per message and animation frame.
export function fitTelemetry(batch, limits = TELEMETRY_LIMITS) {
  const sizeOf = (value) => new TextEncoder().encode(JSON.stringify(value)).length;
  const counted = TELEMETRY_LISTS.every((name) => (batch[name] || []).length <= limits[name]);
  if (counted && sizeOf(batch) <= limits.bytes) return batch;
  const left = Object.fromEntries(TELEMETRY_LISTS.map((name) => [name, batch.truncated?.[name] || 0]));
  const thinned = { ...batch };
  for (const name of ["visibility", "focus"]) {
    thinned[name] = (batch[name] || []).slice(0, limits[name]);
    left[name] += (batch[name] || []).length - thinned[name].length;
  }
  // The bytes left for frames and updates once the rest is in, with the widest counts the mark can
  // hold. Their entries are numbers (or null): one byte a character, and a comma each.
  const widest = Object.fromEntries(TELEMETRY_LISTS.map((name) => [name, Number.MAX_SAFE_INTEGER]));
  const room = limits.bytes - sizeOf({ ...thinned, frames: [], updates: [], truncated: widest });
  const cost = (entry) => JSON.stringify(entry).length + 1;
  const lists = { frames: batch.frames || [], updates: batch.updates || [] };
  const groups = {}; // list -> seq -> [bytes, entries]
  let bytes = 0;
  for (const name of ["frames", "updates"]) {
    groups[name] = new Map();
    for (const entry of lists[name]) {
      const [size, count] = groups[name].get(entry[0]) || [0, 0];
      groups[name].set(entry[0], [size + cost(entry), count + 1]);
      bytes += cost(entry);
    }
  }
  for (const name of ["updates", "frames"]) {
    let kept = lists[name].length;
    const dropped = new Set();
    for (const seq of [...groups[name].keys()].sort((a, b) => b - a)) {
      if (bytes <= room && kept <= limits[name]) break;
      const [size, count] = groups[name].get(seq);
      dropped.add(seq);
      bytes -= size;
      kept -= count;
    }
    thinned[name] = lists[name].filter((entry) => !dropped.has(entry[0]));
    left[name] += lists[name].length - thinned[name].length;
  }
  thinned.truncated = left;
  return thinned;
}

// --- presentation --------------------------------------------------------------------------------

export class Presenter {
  // Shows stream messages on the display's frame clock, each token at its own due time: a message
  // carries its tokens' due times (`parts`), and a frame shows exactly the tokens due at or before
  // the frame's time, so no token is shown early, whatever the speed. Controlled delivery: a token
  // is due at t0 + its due_ms. Server-paced and live: a message's first token when it arrives, the
  // others as far after it as the schedule says. Each pane's messages are shown in order; the two
  // panes do not wait for each other. A hidden tab gets no animation frames, so a timer keeps the
  // queue moving there (those paints are late by nature and the trial is flagged hidden).
  constructor(panes, telemetry, { onComplete }) {
    this.panes = panes;
    this.telemetry = telemetry;
    this.onComplete = onComplete;
    this.queue = [];
    this.t0 = null;
    this.delivery = "controlled";
    this.ended = false;
    this.lastFrameAt = null;
    this.tick = this.tick.bind(this);
    requestAnimationFrame(this.tick);
    setInterval(() => {
      if (document.visibilityState === "hidden") this.flush(performance.now());
    }, 100);
  }

  begin(t0, delivery) {
    this.t0 = t0;
    this.delivery = delivery;
    this.queue = [];
    this.ended = false;
  }

  enqueue(message) {
    const now = performance.now();
    this.telemetry.received(message.seq, now);
    const base = this.delivery === "controlled" ? this.t0 : now - message.due_ms;
    let parts = [];
    if (message.type === "stream.delta") {
      parts = message.parts
        ? message.parts.map(([due, text]) => ({ due: base + due, text, tokens: 1 }))
        : [{ due: base + message.due_ms, text: message.text, tokens: message.tokens }];
    }
    this.queue.push({ message, parts, next: 0, due: base + message.due_ms });
  }

  end() {
    this.ended = true;
    if (document.visibilityState === "hidden") this.flush(performance.now());
  }

  tick(frameTime) {
    if (this.lastFrameAt !== null) this.telemetry.frameIntervals.push(frameTime - this.lastFrameAt);
    if (this.telemetry.frameIntervals.length > 600) this.telemetry.frameIntervals.shift();
    this.lastFrameAt = frameTime;
    this.flush(frameTime);
    requestAnimationFrame(this.tick);
  }

  flush(frameTime) {
    const waiting = new Set(); // panes whose next message is not (fully) due yet
    for (let index = 0; index < this.queue.length; ) {
      const entry = this.queue[index];
      const { message } = entry;
      if (waiting.has(message.pane)) {
        index += 1;
        continue;
      }
      if (message.type === "stream.delta") {
        let text = "";
        let tokens = 0;
        while (entry.next < entry.parts.length && entry.parts[entry.next].due <= frameTime) {
          const part = entry.parts[entry.next];
          text += part.text;
          tokens += part.tokens;
          entry.next += 1;
        }
        if (tokens) {
          this.panes.show({ ...message, text });
          this.telemetry.shown(message.seq, tokens, frameTime);
        }
        if (entry.next < entry.parts.length) {
          waiting.add(message.pane);
          index += 1;
          continue;
        }
      } else if (entry.due > frameTime) {
        waiting.add(message.pane);
        index += 1;
        continue;
      } else {
        this.panes.finish(message.pane);
      }
      this.queue.splice(index, 1);
    }
    this.telemetry.frameDone();
    if (this.ended && this.queue.length === 0) {
      this.ended = false;
      this.telemetry.whenPresented(this.onComplete);
    }
  }
}
