// The researcher's live monitor: renders each `monitor.snapshot` the study's monitor socket pushes
// (uxlab/live/monitor.py). Pause and Resume are plain forms posting to the server. Changes of the
// study's status and of the connection are announced to screen readers (#monitor-announcer, a
// polite status region); the counts that change every second are not.

import { Connection } from "./socket.js";

const root = document.getElementById("monitor");
const $ = (id) => document.getElementById(id);

const cell = (text) => {
  const td = document.createElement("td");
  td.textContent = text ?? "–";
  return td;
};

const row = (...texts) => {
  const tr = document.createElement("tr");
  tr.append(...texts.map(cell));
  return tr;
};

const announcer = $("monitor-announcer");
const said = { status: null, reason: null, connection: null };

// Announce `text` as the new `topic` value, only when it changed (and not the first status shown).
function announce(topic, value, text) {
  const previous = said[topic];
  said[topic] = value;
  if (previous === value || (previous === null && topic !== "connection")) return;
  announcer.textContent = text;
}

const yesNo = (flag) => (flag === null || flag === undefined ? "–" : flag ? "yes" : "no");

function render(snapshot) {
  $("status").textContent = snapshot.status;
  $("status").className = `status status-${snapshot.status}`;
  $("paused-reason").textContent = snapshot.paused_reason || "";
  $("paused-reason").hidden = !snapshot.paused_reason;
  announce("status", snapshot.status, `The study is now ${snapshot.status}.`);
  if (snapshot.paused_reason) announce("reason", snapshot.paused_reason, `Paused: ${snapshot.paused_reason}`);
  const liveArms = snapshot.live_arms || [];
  $("live-arms-card").hidden = liveArms.length === 0;
  $("live-arms").replaceChildren(
    ...liveArms.map((arm) =>
      row(
        arm.arm,
        arm.requests,
        arm.failures,
        arm.failure_rate === null ? "–" : `${Math.round(arm.failure_rate * 100)}%`,
        Object.entries(arm.codes).map(([code, count]) => `${code}: ${count}`).join(", ") || "–",
        arm.skipped_trials,
      ),
    ),
  );
  $("states").replaceChildren(
    ...Object.entries(snapshot.participants).map(([name, count]) => {
      const div = document.createElement("div");
      div.className = "stat";
      div.dataset.state = name;
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = count;
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = name.replace("_", " ");
      div.append(value, label);
      return div;
    }),
  );
  $("uncounted").replaceChildren(
    ...Object.entries(snapshot.uncounted || {}).map(([mode, states]) => {
      const li = document.createElement("li");
      const total = Object.values(states).reduce((sum, count) => sum + count, 0);
      const parts = Object.entries(states).filter(([, count]) => count).map(([state, count]) => `${count} ${state.replace("_", " ")}`);
      li.dataset.mode = mode;
      li.textContent = `${mode}: ${total}${parts.length ? ` (${parts.join(", ")})` : ""}`;
      return li;
    }),
  );
  $("uncounted-ratings").textContent = snapshot.uncounted_ratings ?? "–";
  $("attention").textContent = snapshot.attention_check_failures;
  $("dead").textContent = snapshot.dead_letters ?? "–";
  $("conflicts").textContent = snapshot.conflicts;
  $("ratings").textContent = snapshot.ratings;
  $("quota").replaceChildren(
    ...snapshot.quota.map((q) => row(q.pair.replace("|", " vs "), q.prompt, q.finished, q.quota)),
  );
  $("recent").replaceChildren(
    ...snapshot.recent_trials.map((t) =>
      row(
        t.participant,
        t.mode || "real",
        t.trial_index,
        `${t.arm_a} / ${t.arm_b}`,
        t.status,
        t.fidelity ? (t.fidelity.low ? "low" : "ok") : "–",
        yesNo(t.hidden_during_stream),
      ),
    ),
  );
}

const connection = new Connection(root.dataset.socketPath, {
  onStatus: (text) => {
    $("connection").textContent = text;
    announce("connection", text, `Live updates: ${text}`);
  },
  onOpen: () => {
    $("connection").textContent = "connected";
    announce("connection", "live", "Live updates connected.");
  },
  onMessage: (message) => {
    if (message.type === "monitor.snapshot") render(message);
    else if (message.type === "error") $("connection").textContent = message.message;
  },
});
connection.open();
