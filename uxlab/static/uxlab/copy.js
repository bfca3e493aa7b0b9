// Copy buttons on researcher pages: <button data-copy="#id"> copies that element's text (a link,
// a code) to the clipboard and says so in the nearest [role=status]. No inline scripts (CSP).

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on a non-local host has no clipboard API: select and copy the old way.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("copy refused");
}

function statusFor(button) {
  return button.closest("section, .card, form, main")?.querySelector("[role=status]") || null;
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const target = document.querySelector(button.dataset.copy);
  if (!target) return;
  const text = target.textContent.trim();
  const status = statusFor(button);
  const label = button.textContent;
  try {
    await copyText(text);
    button.textContent = "Copied";
    button.dataset.copied = "true";
    if (status) status.textContent = `Copied: ${text}`;
  } catch {
    if (status) status.textContent = "Could not copy: select the text and copy it yourself.";
    const range = document.createRange();
    range.selectNodeContents(target);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
  }
  setTimeout(() => { button.textContent = label; }, 2000);
});
