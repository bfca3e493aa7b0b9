// The give-up on a final save that is never confirmed (docs/protocol.md, Telemetry): after the
// study's save timeout the page asks the server to record that it stops waiting (the /unconfirmed/
// route: allowed only once every trial was streamed and everything but the last trial's answers is
// answered, and the save timeout has passed since the last stream could end; 409 until then, so the
// page asks again a few seconds later), then opens the completion page the server names, which shows
// the code and keeps the fact (completion_unconfirmed_at). Used by the last trial's page once its
// answers are sent or the trial was skipped, and by the done page while it says it is saving.

import { postJson } from "./http.js";

const ASK_AGAIN_MS = 5000;

// `element` carries data-save-timeout-ms and data-unconfirmed-url; `pending()` counts what this
// browser still holds unconfirmed (sent to the server with the give-up). With `untilSaved`, the
// watch ends quietly once nothing is pending: the page then moves on by itself.
export function giveUpAfterSaveTimeout(element, pending, { untilSaved = true } = {}) {
  let deadline = performance.now() + (Number(element.dataset.saveTimeoutMs) || 60000);
  let asking = false;
  const timer = setInterval(async () => {
    if (asking || performance.now() < deadline) return;
    const count = pending();
    if (untilSaved && count === 0) {
      clearInterval(timer);
      return;
    }
    asking = true;
    try {
      const response = await postJson(element.dataset.unconfirmedUrl, { pending: count });
      if (response.ok) {
        clearInterval(timer);
        location.assign((await response.json()).next_url);
        return;
      }
      // Not yet (409: the server counts the save timeout from the end of the last stream): ask again.
    } catch {
      // Offline: keep what is pending; the page resends it when it reconnects.
    }
    deadline = performance.now() + ASK_AGAIN_MS;
    asking = false;
  }, 500);
  return timer;
}
