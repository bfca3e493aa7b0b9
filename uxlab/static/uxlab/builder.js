// The study builder's small helpers (no inline scripts: the CSP forbids them). Every page works
// without this module; it only hides what does not apply and asks before destructive buttons.

// Question options: show only those the chosen kind uses (a field with a value or an error stays).
const kindSelect = document.querySelector("select[name=kind]");
const optionFields = document.querySelectorAll("[data-kinds]");
function showOptionsOfKind() {
  for (const field of optionFields) {
    const input = field.querySelector("input, select, textarea");
    const used = field.dataset.kinds.split(" ").includes(kindSelect.value);
    field.hidden = !used && !field.classList.contains("has-error") && !(input && input.value);
  }
}
if (kindSelect && optionFields.length) {
  kindSelect.addEventListener("change", showOptionsOfKind);
  showOptionsOfKind();
}

// The create page: the fields of the chosen start (template, blank, upload).
const startInputs = document.querySelectorAll("#start input[name=start]");
function showStartFields() {
  const chosen = document.querySelector("#start input[name=start]:checked")?.value;
  for (const element of document.querySelectorAll("[data-start]")) {
    const start = element.dataset.start;
    element.hidden = start !== "all" && start !== chosen;
  }
}
for (const input of startInputs) input.addEventListener("change", showStartFields);
if (startInputs.length) showStartFields();

// Forms that delete or close ask first.
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// Focus the first field with a problem, so keyboard and screen-reader users land on it.
document.querySelector("[aria-invalid=true]")?.focus();
