// "Saving your last answers": looks again every few seconds without reloading the page (a timed
// reload would interrupt a screen reader, WCAG 2.2.1), and opens the completion page once it is there.

const SAVING_MARK = 'id="saving"';

async function check() {
  try {
    const response = await fetch(location.href, { headers: { Accept: "text/html" } });
    if (response.ok && !(await response.text()).includes(SAVING_MARK)) {
      location.reload();
      return;
    }
  } catch {
    // Offline for a moment: look again later.
  }
  setTimeout(check, 3000);
}

setTimeout(check, 3000);
