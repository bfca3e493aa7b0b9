// The participant's trial page: streams both panes over one websocket and delivers answers
// through the outbox, which keeps each answer until the server says it is stored.
// The page never learns which backend is behind A or B.

import { AnswerForm } from "./answers.js";
import { newKey, Outbox } from "./outbox.js";
import { Connection, Panes } from "./stream.js";

const root = document.getElementById("player");
const token = root.dataset.token;
const trialIndex = Number(root.dataset.trial);
const nextUrl = root.dataset.nextUrl;
const statusLine = document.getElementById("status");
const outbox = new Outbox(token);
const panes = new Panes(root);
let streamDone = false;
let leaving = false;

const setStatus = (text) => {
  statusLine.textContent = text;
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

function maybeLeave() {
  const pending = outbox.messages().filter((message) => message.trial === trialIndex);
  if (form.complete && pending.length === 0 && !leaving) {
    leaving = true;
    setStatus("Saved.");
    connection.close();
    location.assign(nextUrl);
  }
}

function onMessage(message) {
  switch (message.type) {
    case "stream.start":
      panes.reset();
      setStatus("Responses are loading…");
      break;
    case "stream.delta":
      panes.show(message);
      break;
    case "stream.done":
      panes.finish(message.pane);
      break;
    case "stream.end":
      streamDone = true;
      form.allow();
      setStatus("Both responses are complete. Please answer below.");
      break;
    case "rating.stored":
      outbox.remove(message.key);
      maybeLeave();
      break;
    case "rating.retry":
      setTimeout(() => outbox.messages().forEach((m) => connection.send(m)), 1000 + Math.random() * 1000);
      setStatus("Still saving your answer…");
      break;
    case "error":
      // The server refused this answer for good; keeping it would resend it forever.
      if (message.ref && outbox.has(message.ref)) outbox.remove(message.ref);
      setStatus(`Something went wrong (${message.code}). Please reload the page.`);
      break;
  }
}

const connection = new Connection(
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root.dataset.socketPath}`,
  {
    onStatus: setStatus,
    onMessage,
    onOpen() {
      for (const message of outbox.messages()) connection.send(message);
      if (!streamDone && form.answered.size === 0) connection.send({ type: "trial.start", trial: trialIndex });
    },
  },
);

// A reload after answering but before the answers were stored: show them as given and resend.
for (const message of outbox.messages()) {
  if (message.type === "rating.submit" && message.trial === trialIndex) form.markAnswered(message.question, message.key);
}
if (form.complete) {
  streamDone = true;
  form.form.hidden = false;
  setStatus("Saving your answers…");
}
connection.open();
