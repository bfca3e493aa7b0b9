// The participant's trial player: streams both panes over one websocket and delivers answers
// through a localStorage outbox that keeps each answer until the server says it is stored.
// Protocol: docs/protocol.md. The page never learns which backend is behind A or B.

const root = document.getElementById("player");
const token = root.dataset.token;
const trialIndex = Number(root.dataset.trial);
const socketUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root.dataset.socketPath}`;
const nextUrl = root.dataset.nextUrl;
const statusLine = document.getElementById("status");
const answerForm = document.getElementById("answers");
const questions = [...answerForm.querySelectorAll(".question")];
const outboxKey = `uxlab.outbox.${token}`;

let socket = null;
let reconnectAttempts = 0;
let streamDone = false;
let answerAllowedAt = null;
let leaving = false;
const answered = new Map(); // question name -> rating key
const thinkingTimers = {};

// --- outbox -------------------------------------------------------------------------------------

function loadOutbox() {
  try {
    return JSON.parse(localStorage.getItem(outboxKey) || "{}");
  } catch {
    return {};
  }
}

function saveOutbox(outbox) {
  localStorage.setItem(outboxKey, JSON.stringify(outbox));
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(message));
    return true;
  }
  return false;
}

function flushOutbox() {
  for (const rating of Object.values(loadOutbox())) send(rating);
}

// --- panes ----------------------------------------------------------------------------------------

function pane(name) {
  return document.getElementById(`pane-${name}`);
}

function resetPanes() {
  for (const name of ["A", "B"]) {
    const el = pane(name);
    el.querySelector(".answer").textContent = "";
    el.querySelector(".reasoning-text").textContent = "";
    el.querySelector(".reasoning").hidden = true;
    stopThinking(name);
    el.classList.remove("done");
  }
}

function startThinking(name) {
  const box = pane(name).querySelector(".thinking");
  if (thinkingTimers[name]) return;
  const started = performance.now();
  const elapsed = box.querySelector(".elapsed");
  box.hidden = false;
  elapsed.textContent = "0";
  thinkingTimers[name] = setInterval(() => {
    elapsed.textContent = String(Math.floor((performance.now() - started) / 1000));
  }, 250);
}

function stopThinking(name) {
  clearInterval(thinkingTimers[name]);
  delete thinkingTimers[name];
  pane(name).querySelector(".thinking").hidden = true;
}

function showDelta(message) {
  const el = pane(message.pane);
  if (message.phase === "thinking") {
    if (message.text) {
      const box = el.querySelector(".reasoning");
      box.hidden = false;
      box.open = true;
      box.querySelector(".reasoning-text").append(message.text);
    } else {
      startThinking(message.pane);
    }
    return;
  }
  stopThinking(message.pane);
  el.querySelector(".reasoning").open = false;
  el.querySelector(".answer").append(message.text);
}

// --- answering -------------------------------------------------------------------------------------

function allowAnswers() {
  streamDone = true;
  answerAllowedAt = performance.now();
  answerForm.hidden = false;
  for (const question of questions) {
    if (answered.has(question.dataset.question)) continue;
    for (const button of question.querySelectorAll(".choice")) button.disabled = false;
  }
  const first = answerForm.querySelector(".choice:not([disabled])");
  if (first) first.focus();
  statusLine.textContent = "Both responses are complete. Please answer below.";
}

function answer(questionEl, value) {
  const name = questionEl.dataset.question;
  if (!streamDone || answered.has(name)) return;
  const rating = {
    type: "rating.submit",
    key: newKey(),
    trial: trialIndex,
    question: name,
    value,
    response_ms: Math.max(0, Math.round(performance.now() - answerAllowedAt)),
  };
  const outbox = loadOutbox();
  outbox[rating.key] = rating;
  saveOutbox(outbox);
  answered.set(name, rating.key);
  for (const button of questionEl.querySelectorAll(".choice")) {
    button.disabled = true;
    button.setAttribute("aria-pressed", String(button.dataset.value === value));
  }
  statusLine.textContent = "Saving your answer…";
  send(rating);
  maybeLeave();
}

function maybeLeave() {
  const pending = Object.values(loadOutbox()).filter((rating) => rating.trial === trialIndex);
  if (answered.size === questions.length && pending.length === 0 && !leaving) {
    leaving = true;
    statusLine.textContent = "Saved.";
    location.assign(nextUrl);
  }
}

function onStored(key) {
  const outbox = loadOutbox();
  delete outbox[key];
  saveOutbox(outbox);
  maybeLeave();
}

answerForm.addEventListener("click", (event) => {
  const button = event.target.closest(".choice");
  if (button && !button.disabled) answer(button.closest(".question"), button.dataset.value);
});

document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || !/^[1-9]$/.test(event.key)) return;
  const question = questions.find((q) => !answered.has(q.dataset.question));
  const button = question && question.querySelector(`.choice[data-shortcut="${event.key}"]`);
  if (button && !button.disabled) {
    event.preventDefault();
    answer(question, button.dataset.value);
  }
});

// --- the socket ----------------------------------------------------------------------------------

function onMessage(event) {
  const message = JSON.parse(event.data);
  switch (message.type) {
    case "stream.start":
      resetPanes();
      statusLine.textContent = "Responses are loading…";
      break;
    case "stream.delta":
      showDelta(message);
      break;
    case "stream.done":
      stopThinking(message.pane);
      pane(message.pane).classList.add("done");
      break;
    case "stream.end":
      allowAnswers();
      break;
    case "rating.stored":
      onStored(message.key);
      break;
    case "rating.retry":
      setTimeout(flushOutbox, 1000 + Math.random() * 1000);
      statusLine.textContent = "Still saving your answer…";
      break;
    case "error":
      if (message.ref && loadOutbox()[message.ref]) {
        // The server refused this answer for good; keeping it would resend it forever.
        const outbox = loadOutbox();
        delete outbox[message.ref];
        saveOutbox(outbox);
      }
      statusLine.textContent = `Something went wrong (${message.code}). Please reload the page.`;
      break;
  }
}

function connect() {
  statusLine.textContent = reconnectAttempts ? "Reconnecting…" : "Connecting…";
  socket = new WebSocket(socketUrl);
  socket.addEventListener("open", () => {
    reconnectAttempts = 0;
    flushOutbox();
    if (!streamDone && answered.size === 0) send({ type: "trial.start", trial: trialIndex });
  });
  socket.addEventListener("message", onMessage);
  socket.addEventListener("close", () => {
    if (leaving) return;
    reconnectAttempts += 1;
    const delay = Math.min(8000, 250 * 2 ** reconnectAttempts) * (0.5 + Math.random() / 2);
    statusLine.textContent = "Connection lost. Reconnecting…";
    setTimeout(connect, delay);
  });
}

// A reload after answering but before the answers were stored: show them as given and resend.
for (const rating of Object.values(loadOutbox())) {
  if (rating.trial !== trialIndex) continue;
  const question = questions.find((q) => q.dataset.question === rating.question);
  if (question) answered.set(rating.question, rating.key);
}
if (answered.size === questions.length) {
  streamDone = true;
  answerForm.hidden = false;
  statusLine.textContent = "Saving your answers…";
}
connect();
