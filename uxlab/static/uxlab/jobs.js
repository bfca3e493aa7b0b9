// A background job's page: polls its JSON status (web/views_jobs.py) and moves the progress bar
// until the job is done (then shows the download link), failed or cancelled (then its message).
// The Cancel button is a plain form; it goes once the job has ended.

const root = document.getElementById("job");
const bar = document.getElementById("job-progress");
const label = document.getElementById("job-progress-label");
const state = document.getElementById("job-state");
const message = document.getElementById("job-message");
const download = document.getElementById("job-download");
const cancel = document.getElementById("job-cancel");
const ENDED = new Set(["done", "failed", "cancelled"]);

const POLL_MS = 700;

function percent(progress) {
  return `${Math.round(progress * 100)}%`;
}

function render(status) {
  root.dataset.status = status.status;
  bar.value = status.progress;
  label.textContent = status.total ? `${percent(status.progress)} (${status.done} of about ${status.total})` : percent(status.progress);
  state.textContent = status.status;
  state.className = `status status-job-${status.status}`;
  message.textContent = status.message || "";
  if (cancel && ENDED.has(status.status)) cancel.hidden = true;
  if (status.download_url) {
    download.href = status.download_url;
    download.textContent = `Download ${status.file_name} (${(status.size / 1024).toFixed(1)} KiB)`;
    download.hidden = false;
  }
}

async function poll() {
  try {
    const response = await fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (response.ok) {
      const status = await response.json();
      render(status);
      if (ENDED.has(status.status)) return;
    }
  } catch {
    // A dropped request: try again on the next tick.
  }
  setTimeout(poll, POLL_MS);
}

if (root && !ENDED.has(root.dataset.status)) poll();
