// "Saving your last answers": looks again every few seconds without reloading the page (a timed
// reload would interrupt a screen reader, WCAG 2.2.1), and opens the completion page once it is there.
// Nothing on this page sends what is missing (a trial's telemetry the last trial's page did not see
// stored), so it does not wait for ever: after the study's save timeout it takes the last page's
// give-up path (final_save.js), which the server records.

import { giveUpAfterSaveTimeout } from "./final_save.js";
import { Outbox } from "./outbox.js";

const SAVING_MARK = 'id="saving"';
const saving = document.getElementById("saving");

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
// What this browser still holds unconfirmed is counted with the give-up (it may hold nothing).
const outbox = new Outbox(saving.dataset.token);
giveUpAfterSaveTimeout(saving, () => outbox.messages().length, { untilSaved: false });
