// The builder's adaptive-design form: shows the settings only while "This study is adaptive" is
// ticked, and only the chosen procedure's settings (the staircase's or QUEST+'s fieldset, and the
// stopping rules marked with data-kinds). The page works without it: the server ignores the other
// procedure's settings, and an unticked box saves the design as fixed.

const form = document.getElementById("adaptive-form");
const enabled = document.getElementById("adaptive-enabled");
const settings = form?.querySelector("[data-adaptive-settings]");
const procedure = form?.querySelector("select[name=procedure]");

function showWhatApplies() {
  settings.hidden = !enabled.checked;
  const chosen = procedure?.value;
  for (const fieldset of form.querySelectorAll("fieldset[data-procedure]")) {
    fieldset.hidden = fieldset.dataset.procedure !== chosen;
  }
  for (const field of form.querySelectorAll("[data-kinds]")) {
    field.hidden = field.dataset.kinds !== chosen && !field.classList.contains("has-error");
  }
}

if (form && enabled && settings) {
  enabled.addEventListener("change", showWhatApplies);
  procedure?.addEventListener("change", showWhatApplies);
  showWhatApplies();
}
