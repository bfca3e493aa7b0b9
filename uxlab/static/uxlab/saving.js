// "Saving your last answers": looks again every few seconds without reloading the page (a timed
// reload would interrupt a screen reader, WCAG 2.2.1), and opens the completion page once it is there.
// What this browser's outbox still holds (a trial's telemetry whose publish failed, say) is sent
// once more over the participant's socket, which takes telemetry and answers of any trial that was
// streamed (docs/protocol.md, Telemetry): this page sends nothing else, and opens no socket when the
// outbox is empty. What is missing may not be in this browser at all (the page that held it was
// closed), so it does not wait for ever: after the study's save timeout it takes the last page's
// give-up path (final_save.js), which the server records.

import { giveUpAfterSaveTimeout } from "./final_save.js";
import { Outbox } from "./outbox.js";
import { Connection } from "./socket.js";

const SAVING_MARK = 'id="saving"';
const LOOK_AGAIN_MS = 3000;
const RESEND_EVERY_MS = 15000;
const saving = document.getElementById("saving");
const outbox = new Outbox(saving.dataset.token);
let looking = false;
let resendTimer = null;
let connection = null;

function openCompletionPage() {
  if (connection) connection.close();
  location.reload();
}

// Whether the done page now has more to say than "saving" (the code, or a session that is over).
async function lookAgain() {
  if (looking) return;
  looking = true;
  try {
    const response = await fetch(location.href, { headers: { Accept: "text/html" } });
    if (response.ok && !(await response.text()).includes(SAVING_MARK)) {
      openCompletionPage();
      return;
    }
  } catch {
    // Offline for a moment: look again later.
  } finally {
    looking = false;
  }
}

function lookAgainNowAndThen() {
  setTimeout(async () => {
    await lookAgain();
    lookAgainNowAndThen();
  }, LOOK_AGAIN_MS);
}

function sendOutbox() {
  for (const message of outbox.messages()) connection.send(message);
}

// Resend everything unconfirmed once, a little later (after rating.retry or rate_limited).
function resendSoon() {
  if (resendTimer !== null) return;
  resendTimer = setTimeout(() => {
    resendTimer = null;
    sendOutbox();
  }, 1000 + Math.random() * 1000);
}

function forget(key) {
  outbox.remove(key);
  if (outbox.messages().length === 0) lookAgain();
}

function onMessage(message) {
  switch (message.type) {
    case "rating.stored":
    case "telemetry.stored":
      forget(message.key);
      break;
    case "rating.retry":
      resendSoon();
      break;
    case "error":
      // Not read (past the socket's budget): the outbox still holds it, a resend asks again.
      if (message.code === "rate_limited") resendSoon();
      // Refused for good: nothing on this page can mend it, and keeping it would resend it for ever.
      else if (message.ref && outbox.has(message.ref)) forget(message.ref);
      break;
  }
}

lookAgainNowAndThen();
if (outbox.messages().length) {
  connection = new Connection(saving.dataset.socketPath, {
    onMessage,
    onOpen: sendOutbox,
    // The session is over (completed elsewhere, expired, withdrawn): the done page says which.
    onFinalClose: openCompletionPage,
  });
  connection.open();
  // Confirmations lost with a restarted queue: resend now and then (each key is stored once).
  setInterval(sendOutbox, RESEND_EVERY_MS);
}
// What this browser still holds unconfirmed is counted with the give-up (it may hold nothing).
giveUpAfterSaveTimeout(saving, () => outbox.messages().length, { untilSaved: false });
