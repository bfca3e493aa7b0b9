// Warns a participant before their session's time limit (or the limit for being away) runs out,
// and lets them ask for more time with one key press (WCAG 2.2.1). The deadline comes from the
// server (#session-warning data-deadline-ms); "I need more time" posts to the extend URL, which
// answers with the new deadline. The warning opens WARN_BEFORE_MS before the end as a modal
// dialog with the focus on its button; Escape or Close returns the focus where it was.

import { postJson } from "./http.js";

const WARN_BEFORE_MS = 2 * 60 * 1000;
const dialog = document.getElementById("session-warning");

function minutesLeft(deadline) {
  const minutes = Math.max(0, Math.round((deadline - Date.now()) / 60000));
  if (minutes < 1) return "less than a minute";
  return minutes === 1 ? "1 minute" : `${minutes} minutes`;
}

class SessionTimer {
  constructor(root) {
    this.root = root;
    this.deadline = Number(root.dataset.deadlineMs);
    this.extensionsLeft = Number(root.dataset.extensionsLeft);
    this.returnFocus = null;
    this.timers = [];
    this.over = false;
    this.text = root.querySelector("#session-warning-text");
    this.error = root.querySelector("#session-warning-error");
    this.extendButton = root.querySelector("#session-extend");
    this.extendButton.addEventListener("click", () => this.extend());
    root.querySelector("#session-dismiss").addEventListener("click", () => root.close());
    root.addEventListener("close", () => this.returnFocus?.focus());
    this.schedule();
  }

  schedule() {
    this.timers.forEach(clearTimeout);
    const now = Date.now();
    this.timers = [
      setTimeout(() => this.warn(), Math.max(0, this.deadline - WARN_BEFORE_MS - now)),
      setTimeout(() => this.ended(), Math.max(0, this.deadline - now)),
    ];
  }

  warn() {
    const canExtend = this.extensionsLeft > 0 && !this.over;
    const dismiss = this.root.querySelector("#session-dismiss");
    this.text.textContent = this.over
      ? "The time for this session has run out. Thank you for your time."
      : `This session will end in about ${minutesLeft(this.deadline)}` +
        (canExtend ? " unless you ask for more time." : "; it cannot be extended again.");
    this.extendButton.hidden = !canExtend;
    this.root.querySelector(".session-extend-hint").hidden = !canExtend;
    this.error.hidden = true;
    if (!this.root.open) {
      // Back where the participant was; on a page just opened, where its autofocus would have been.
      const active = document.activeElement;
      this.returnFocus = active && active !== document.body ? active : document.querySelector("[autofocus]");
      this.root.showModal();
    }
    (canExtend ? this.extendButton : dismiss).focus();
  }

  ended() {
    this.over = true;
    this.warn();
  }

  async extend() {
    let answer;
    try {
      answer = await (await postJson(this.root.dataset.extendUrl, {})).json();
    } catch {
      answer = { message: "We could not reach the study server. Please check your connection and try again." };
    }
    if (!answer.deadline_ms) {
      this.error.textContent = answer.message;
      this.error.hidden = false;
      return;
    }
    this.deadline = answer.deadline_ms;
    this.extensionsLeft = answer.extensions_left;
    this.root.dataset.deadlineMs = String(this.deadline);
    this.schedule();
    this.root.close();
  }
}

if (dialog) new SessionTimer(dialog);
