// The participant's trial page: syncs clocks with the server, streams both panes over one
// websocket, presents them on the frame clock, and delivers answers and telemetry through the
// outbox, which keeps each message until the server says it is stored (docs/protocol.md).
// The page never learns which backend is behind A or B.

import { AnswerForm } from "./answers.js";
import { mustBeStoredFirst, newKey, Outbox } from "./outbox.js";
import { Clock, Connection } from "./socket.js";
import { fitTelemetry, Panes, Presenter, Telemetry } from "./stream.js";

// Clock-sync rounds before a trial starts (a fresh page) and after a reconnect: the estimate comes
// from the fastest round, and more rounds make a fast one likelier on a busy network or machine.
const SYNC_ROUNDS = 12;
const RESYNC_ROUNDS = 6;

const root = document.getElementById("player");
const token = root.dataset.token;
const trialIndex = Number(root.dataset.trial);
const nextUrl = root.dataset.nextUrl; // the participant's page: where a closed session is explained
const continueUrl = root.dataset.continueUrl; // the next trial (or, after the last, the done page)
const statusLine = document.getElementById("status");
const outbox = new Outbox(token);
const panes = new Panes(root);
const clock = new Clock();
const telemetry = new Telemetry();
let lastSeq = null; // the last stream message shown or queued; null before the stream starts
let awaitingResume = false;
let streamDone = false;
let skipped = false; // the server skipped this trial: the page moves on once what it holds is stored
let skipShown = false; // the page has said so long enough to be read
let leaving = false;
let resendTimer = null;

const setStatus = (text) => {
  statusLine.textContent = text;
  root.dataset.status = text;
};

const form = new AnswerForm(document.getElementById("answers"), {
  trialIndex,
  onAnswer(answer) {
    const rating = { type: "rating.submit", key: newKey(), ...answer };
    outbox.put(rating);
    setStatus("Saving your answer…");
    connection.send(rating);
    maybeLeave();
    return rating.key;
  },
});

const presenter = new Presenter(panes, telemetry, {
  onComplete() {
    streamDone = true;
    root.dataset.streamDone = "true";
    // Never more than a telemetry frame may carry: the server would refuse it unread.
    const batch = fitTelemetry(telemetry.message(newKey(), trialIndex, clock));
    outbox.put(batch);
    connection.send(batch);
    form.allow();
    setStatus("Both responses are complete. Please answer below.");
  },
});

const telemetryFollows = root.dataset.telemetryFollows === "true";

// Go on once this trial is done with (answered, or skipped) and everything the page must have
// stored first is confirmed: this trial's answers and, unless the next trial's page sends it, every
// trial's telemetry (outbox.js, mustBeStoredFirst).
function maybeLeave() {
  const pending = outbox.messages().filter((m) => mustBeStoredFirst(m, trialIndex, telemetryFollows));
  if (((form.complete && streamDone) || skipShown) && pending.length === 0 && !leaving) {
    leaving = true;
    setStatus(skipped ? "Moving on…" : "Saved.");
    connection.close();
    location.assign(continueUrl);
  }
}

// Resend everything unconfirmed once, a little later: however many messages asked for it at once
// (a rating.retry per answer of a batch, or frames the server refused as too many).
function resendSoon() {
  if (resendTimer !== null) return;
  resendTimer = setTimeout(() => {
    resendTimer = null;
    outbox.messages().forEach((m) => connection.send(m));
  }, 1000 + Math.random() * 1000);
}

// The session is over (expired or complete): the participant's home page says which.
function leaveClosedSession() {
  if (leaving) return;
  leaving = true;
  connection.close();
  location.assign(nextUrl);
}

// The trial cannot be shown (its restarts are used up, or its backend is busy or down): the
// server has recorded why, and the study goes on with the next trial (or the end), after what the
// page must have stored first, exactly as after an answered trial: the last trial waits for every
// trial's telemetry, with the same give-up.
function moveOn() {
  if (leaving || skipped) return;
  skipped = true;
  setStatus("This trial cannot be shown. Moving on to the next one…");
  form.watchFinalSave();
  setTimeout(() => {
    skipShown = true;
    maybeLeave();
    if (!leaving) setStatus("This trial cannot be shown. Saving your earlier answers before moving on…");
  }, 2000);
}

function startTrial() {
  const message = { type: "trial.start", trial: trialIndex };
  if (lastSeq !== null) message.after_seq = lastSeq;
  connection.send(message);
}

function onStreamMessage(message) {
  if (awaitingResume || lastSeq === null || message.seq <= lastSeq) return;
  if (message.seq !== lastSeq + 1) {
    // A gap: ask for everything after the last message we have; never show a stream short.
    awaitingResume = true;
    startTrial();
    return;
  }
  lastSeq = message.seq;
  presenter.enqueue(message);
}

function onMessage(message) {
  switch (message.type) {
    case "pong":
      clock.onPong(message);
      break;
    case "stream.start":
      awaitingResume = false;
      if (message.after_seq === 0) {
        panes.reset();
        const t0 = clock.toPerf(message.t0_ms);
        telemetry.reset(t0, clock.estimate());
        presenter.begin(t0, message.delivery);
        lastSeq = 0;
        setStatus("Responses are loading…");
      }
      break;
    case "stream.delta":
    case "stream.done":
      onStreamMessage(message);
      break;
    case "stream.interrupted":
      if (message.reason === "trial_skipped") {
        moveOn();
        break;
      }
      // A gap the server could not fill: never show a short stream; run the trial again.
      setStatus("The responses were interrupted. Starting this trial again…");
      connection.close();
      setTimeout(() => location.reload(), 2500);
      break;
    case "stream.end":
      if (!awaitingResume && lastSeq !== null && message.seq === lastSeq + 1) presenter.end();
      break;
    case "rating.stored":
    case "telemetry.stored":
      outbox.remove(message.key);
      maybeLeave();
      break;
    case "rating.retry":
      resendSoon();
      setStatus("Still saving your answer…");
      break;
    case "error":
      if (["session_expired", "session_completed", "session_withdrawn"].includes(message.code)) {
        leaveClosedSession();
        break;
      }
      if (message.code === "rate_limited") {
        // Not handled, not refused: the outbox still holds it (a resend asks again).
        resendSoon();
        break;
      }
      if (message.code === "trial_skipped") {
        moveOn();
        break;
      }
      // The server refused this message for good; keeping it would resend it forever. Refused
      // telemetry (of this trial or an earlier one), or anything once the trial was skipped, is
      // nothing the participant can mend: go on.
      if (message.ref && outbox.has(message.ref)) {
        const refused = outbox.entries()[message.ref];
        outbox.remove(message.ref);
        if (refused.type === "telemetry.submit" || skipped) {
          maybeLeave();
          break;
        }
      }
      setStatus(`Something went wrong (${message.code}). Please reload the page.`);
      break;
  }
}

const connection = new Connection(root.dataset.socketPath, {
  onStatus: setStatus,
  onMessage,
  onFinalClose: leaveClosedSession,
  async onOpen() {
    if (lastSeq !== null) telemetry.reconnects += 1;
    for (const message of outbox.messages()) connection.send(message);
    if (streamDone || skipped) return;
    await clock.sync(connection, lastSeq === null ? SYNC_ROUNDS : RESYNC_ROUNDS);
    if (!streamDone && !skipped) startTrial();
  },
});

// A batch an older version of this page left in the outbox may be past the limit: thinned once here,
// under the same key (the server refused it unread, so never stored it), it can be stored.
for (const message of outbox.messages()) {
  if (message.type !== "telemetry.submit") continue;
  const fitted = fitTelemetry(message);
  if (fitted !== message) outbox.put(fitted);
}

// A reload after answering but before everything was stored: show the answers as given and resend.
for (const message of outbox.messages()) {
  if (message.type === "rating.submit" && message.trial === trialIndex) form.markAnswered(message.question, message.key);
}
if (form.complete) {
  streamDone = true;
  form.form.hidden = false;
  setStatus("Saving your answers…");
}
connection.open();

// An answer unconfirmed for long may have been lost in a queue that restarted without persistence,
// with this socket still open: resend the outbox now and then (always safe, each key is stored once).
setInterval(() => outbox.messages().forEach((message) => connection.send(message)), 15000);
