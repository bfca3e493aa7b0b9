// A trial's two panes, what the page saw of the stream (telemetry), and the presenter that shows
// stream messages on the frame clock (protocol: docs/protocol.md; the socket and clock: socket.js).

export class Panes {
  constructor(root) {
    this.root = root;
    this.thinkingTimers = {};
  }

  pane(name) {
    return this.root.querySelector(`#pane-${name}`);
  }

  reset() {
    for (const name of ["A", "B"]) {
      const el = this.pane(name);
      el.querySelector(".answer").textContent = "";
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
    el.querySelector(".answer").append(delta.text);
  }

  finish(name) {
    this.stopThinking(name);
    this.pane(name).classList.add("done");
  }
}

// --- telemetry -----------------------------------------------------------------------------------

export class Telemetry {
  // What the page saw, in ms after t0 on its own clock: receive and paint time per message,
  // visibility and focus changes, the frame interval, and how often the socket reconnected.
  constructor() {
    this.t0 = null;
    this.frames = new Map();
    this.visibility = [];
    this.focus = [];
    this.frameIntervals = [];
    this.reconnects = 0;
    document.addEventListener("visibilitychange", () =>
      this.visibility.push([this.since(), document.visibilityState === "hidden" ? "hidden" : "visible"]),
    );
    window.addEventListener("blur", () => this.focus.push([this.since(), "blur"]));
    window.addEventListener("focus", () => this.focus.push([this.since(), "focus"]));
  }

  since(at = performance.now()) {
    return this.t0 === null ? 0 : Math.round((at - this.t0) * 1000) / 1000;
  }

  reset(t0) {
    this.t0 = t0;
    this.frames.clear();
    this.frameIntervals = [];
    if (document.visibilityState === "hidden") this.visibility.push([0, "hidden"]);
  }

  received(seq, at) {
    this.frames.set(seq, [seq, this.since(at), null]);
  }

  painted(seq, at) {
    const entry = this.frames.get(seq);
    if (entry) entry[2] = this.since(at);
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
      visibility: this.visibility,
      focus: this.focus,
      clock: clock.estimate(),
      frame_ms: this.frameMs(),
      reconnects: this.reconnects,
    };
  }
}

// --- presentation --------------------------------------------------------------------------------

export class Presenter {
  // Shows stream messages on the display's frame clock. Controlled delivery: each message is shown
  // in the first animation frame at or after its due time (t0 + due_ms). Server-paced: in the
  // first frame after it arrives. A hidden tab gets no animation frames, so a timer keeps the
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
    const due = this.delivery === "controlled" ? this.t0 + message.due_ms : now;
    this.queue.push({ message, due });
  }

  end() {
    this.ended = true;
    this.flush(performance.now());
  }

  tick(frameTime) {
    if (this.lastFrameAt !== null) this.telemetry.frameIntervals.push(frameTime - this.lastFrameAt);
    if (this.telemetry.frameIntervals.length > 600) this.telemetry.frameIntervals.shift();
    this.lastFrameAt = frameTime;
    this.flush(frameTime);
    requestAnimationFrame(this.tick);
  }

  flush(frameTime) {
    while (this.queue.length && this.queue[0].due <= frameTime) {
      const { message } = this.queue.shift();
      if (message.type === "stream.delta") {
        this.panes.show(message);
        this.telemetry.painted(message.seq, frameTime);
      } else {
        this.panes.finish(message.pane);
      }
    }
    if (this.ended && this.queue.length === 0) {
      this.ended = false;
      this.onComplete();
    }
  }
}
