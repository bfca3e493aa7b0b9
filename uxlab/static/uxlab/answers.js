// The answer form under the panes. It decides when answering is allowed (the study's setting on
// #player: data-answering = after_both | min_exposure | any_time), takes answers of every question
// kind by mouse or keyboard, and on Enter / "Send answers" hands each answer on with its response
// time: milliseconds from the moment answering was allowed to the question's last change.
//
// Keyboard: a number key picks that answer of the question holding the focus, and only when the
// focus is inside a question (a key pressed anywhere else does nothing). It never moves the focus
// to another question (WCAG 3.2.2: input causes no change of context): the focus stays on the
// answer picked, as a click would leave it. Arrow keys move between a question's answers; Tab
// moves to the next question; Enter sends. So "1, Tab, 4, Tab, 2" answers the first three
// questions 1, 4 and 2. Interface used by player.js: allow(), complete, answered,
// markAnswered(name, key), watchFinalSave(), form.

import { giveUpAfterSaveTimeout } from "./final_save.js";
import { mustBeStoredFirst, Outbox } from "./outbox.js";

const TEXT_KINDS = new Set(["wait_estimate", "free_text"]);

export class AnswerForm {
  constructor(form, { trialIndex, onAnswer }) {
    this.form = form;
    this.root = document.getElementById("player");
    this.trialIndex = trialIndex;
    this.onAnswer = onAnswer;
    this.questions = [...form.querySelectorAll(".question")];
    this.answered = new Map(); // question name -> rating key, once sent
    this.changedAt = new Map(); // question name -> performance.now() of its last change
    this.allowedAt = null;
    this.submitted = false;
    this.watchingFinalSave = false;
    this.errorLine = form.querySelector("#answers-error");
    this.sendButton = form.querySelector("#send-answers");
    const mode = this.root?.dataset.answering || "after_both";
    this.mode = mode;

    form.addEventListener("input", (event) => this.onInput(event));
    form.addEventListener("change", (event) => this.onInput(event));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    document.addEventListener("keydown", (event) => this.onKey(event));

    if (mode === "any_time") this.enable();
    else if (mode === "min_exposure") this.enableAfterExposure(Number(this.root.dataset.minExposureMs) || 0);
  }

  get complete() {
    return this.submitted;
  }

  markAnswered(name, key) {
    // A reload after sending but before everything was stored: the answers were sent as a whole.
    this.answered.set(name, key);
    this.submitted = true;
    this.setDisabled(true);
  }

  // Called by the player when both panes have finished.
  allow() {
    if (this.mode === "after_both") this.enable();
    else this.form.hidden = false;
  }

  enableAfterExposure(minimumMs) {
    // Exposure starts when the first text appears in either pane.
    const answers = [...document.querySelectorAll(".pane .answer")];
    const start = () => {
      observer.disconnect();
      setTimeout(() => this.enable(), minimumMs);
    };
    const observer = new MutationObserver(() => {
      if (answers.some((el) => el.textContent.length > 0)) start();
    });
    for (const el of answers) observer.observe(el, { childList: true, characterData: true, subtree: true });
  }

  enable() {
    if (this.allowedAt !== null || this.submitted) return;
    this.allowedAt = performance.now();
    this.form.hidden = false;
    this.setDisabled(false);
    this.form.dataset.allowed = "true";
    const first = this.firstUnanswered();
    if (first) this.focusQuestion(first);
  }

  setDisabled(disabled) {
    for (const input of this.form.querySelectorAll("input:not([type=hidden]), textarea")) input.disabled = disabled;
    this.sendButton.disabled = disabled;
  }

  // --- values ------------------------------------------------------------------------------------

  value(question) {
    const kind = question.dataset.kind;
    if (kind === "slider") {
      const input = question.querySelector("input[type=range]");
      return input.dataset.touched ? input.value : "";
    }
    if (TEXT_KINDS.has(kind)) return question.querySelector("input, textarea").value.trim();
    const checked = question.querySelector("input[type=radio]:checked");
    return checked ? checked.value : "";
  }

  problem(question) {
    const value = this.value(question);
    const kind = question.dataset.kind;
    if (!value) return question.dataset.required === "true" ? "Please answer this question." : null;
    if (kind === "wait_estimate") {
      const input = question.querySelector("input");
      const number = Number(value);
      if (!Number.isFinite(number) || number < 0 || number > Number(input.max)) {
        return `Please enter a number of seconds from 0 to ${input.max}.`;
      }
    }
    return null;
  }

  firstUnanswered() {
    return this.questions.find((q) => !this.value(q)) || null;
  }

  onInput(event) {
    const question = event.target.closest(".question");
    if (!question || this.allowedAt === null) return;
    this.changedAt.set(question.dataset.question, performance.now());
    this.clearProblem(question);
    if (event.target.type === "range") {
      event.target.dataset.touched = "true";
      question.querySelector("output").textContent = event.target.value;
    }
    if (event.target.tagName === "TEXTAREA") {
      question.querySelector(".char-count").textContent = String(event.target.value.length);
    }
  }

  // --- keyboard ----------------------------------------------------------------------------------

  // The question holding the focus, or null: number keys never guess which question is meant.
  focusedQuestion(target) {
    const question = target?.closest?.(".question");
    return question && this.form.contains(question) ? question : null;
  }

  focusQuestion(question) {
    const target =
      question.querySelector("input[type=radio]:checked") ||
      question.querySelector("input:not([type=hidden]), textarea");
    if (target) target.focus();
  }

  onKey(event) {
    if (this.allowedAt === null || this.submitted || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    const typing = target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "number");
    // Enter sends from anywhere in the answer form (a button or a text box keeps its own Enter).
    if (event.key === "Enter" && this.form.contains(target) && target.tagName !== "TEXTAREA" && target.tagName !== "BUTTON") {
      event.preventDefault();
      this.submit();
      return;
    }
    if (typing || !/^[1-9]$/.test(event.key)) return;
    const question = this.focusedQuestion(target);
    const option = question && question.querySelector(`.choice[data-shortcut="${event.key}"] input`);
    if (!option || option.disabled) return;
    event.preventDefault();
    option.checked = true;
    option.focus(); // within the same question; moving on is Tab's job
    option.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // --- problems: said in words next to the question and tied to it (WCAG 1.4.1, 3.3.1) -------------

  showProblem(question, problem) {
    const message = question.querySelector(".question-error");
    message.textContent = problem;
    message.hidden = false;
    question.classList.add("invalid");
    for (const element of [question, ...question.querySelectorAll("input:not([type=hidden]), textarea")]) {
      element.setAttribute("aria-invalid", "true");
    }
  }

  clearProblem(question) {
    const message = question.querySelector(".question-error");
    message.textContent = "";
    message.hidden = true;
    question.classList.remove("invalid");
    for (const element of [question, ...question.querySelectorAll("[aria-invalid]")]) element.removeAttribute("aria-invalid");
  }

  // --- sending -----------------------------------------------------------------------------------

  submit() {
    if (this.allowedAt === null || this.submitted) return;
    const problems = this.questions.map((q) => [q, this.problem(q)]).filter(([, problem]) => problem);
    for (const question of this.questions) this.clearProblem(question);
    if (problems.length) {
      for (const [question, problem] of problems) this.showProblem(question, problem);
      this.errorLine.textContent = `${problems[0][1]} (${problems.length} question${problems.length > 1 ? "s" : ""} left)`;
      this.errorLine.hidden = false;
      this.focusQuestion(problems[0][0]);
      return;
    }
    this.errorLine.hidden = true;
    this.submitted = true;
    this.setDisabled(true);
    for (const question of this.questions) {
      const value = this.value(question);
      if (!value) continue; // an optional question left empty sends nothing
      const name = question.dataset.question;
      const at = this.changedAt.get(name) ?? performance.now();
      const key = this.onAnswer({
        trial: this.trialIndex,
        question: name,
        value,
        response_ms: Math.max(0, Math.round(at - this.allowedAt)),
      });
      this.answered.set(name, key);
    }
    this.watchFinalSave();
  }

  // On the last trial, if what the page waits for is still unconfirmed after the study's save
  // timeout, record that on the server and show the completion code anyway (the server keeps the
  // fact). Called once the answers are sent, or when the trial was skipped (player.js).
  watchFinalSave() {
    const root = this.root;
    if (!root || root.dataset.lastTrial !== "true" || this.watchingFinalSave) return;
    this.watchingFinalSave = true;
    const outbox = new Outbox(root.dataset.token);
    // What the player waits for (the last trial: its answers and every trial's telemetry).
    const follows = root.dataset.telemetryFollows === "true";
    giveUpAfterSaveTimeout(root, () => outbox.messages().filter((m) => mustBeStoredFirst(m, this.trialIndex, follows)).length);
  }
}
