// The answer form under the panes: enables questions when answering is allowed, takes answers by
// click or keyboard (number keys answer the first unanswered question), and hands each one on.

export class AnswerForm {
  constructor(form, { trialIndex, onAnswer }) {
    this.form = form;
    this.trialIndex = trialIndex;
    this.onAnswer = onAnswer;
    this.questions = [...form.querySelectorAll(".question")];
    this.answered = new Map(); // question name -> rating key
    this.allowedAt = null;
    form.addEventListener("click", (event) => {
      const button = event.target.closest(".choice");
      if (button && !button.disabled) this.answer(button.closest(".question"), button.dataset.value);
    });
    document.addEventListener("keydown", (event) => this.onKey(event));
  }

  get complete() {
    return this.answered.size === this.questions.length;
  }

  markAnswered(name, key) {
    this.answered.set(name, key);
  }

  allow() {
    this.allowedAt = performance.now();
    this.form.hidden = false;
    for (const question of this.questions) {
      if (this.answered.has(question.dataset.question)) continue;
      for (const button of question.querySelectorAll(".choice")) button.disabled = false;
    }
    const first = this.form.querySelector(".choice:not([disabled])");
    if (first) first.focus();
  }

  answer(questionEl, value) {
    const name = questionEl.dataset.question;
    if (this.allowedAt === null || this.answered.has(name)) return;
    for (const button of questionEl.querySelectorAll(".choice")) {
      button.disabled = true;
      button.setAttribute("aria-pressed", String(button.dataset.value === value));
    }
    const key = this.onAnswer({
      trial: this.trialIndex,
      question: name,
      value,
      response_ms: Math.max(0, Math.round(performance.now() - this.allowedAt)),
    });
    this.answered.set(name, key);
  }

  onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey || !/^[1-9]$/.test(event.key)) return;
    const question = this.questions.find((q) => !this.answered.has(q.dataset.question));
    const button = question && question.querySelector(`.choice[data-shortcut="${event.key}"]`);
    if (button && !button.disabled) {
      event.preventDefault();
      this.answer(question, button.dataset.value);
    }
  }
}
