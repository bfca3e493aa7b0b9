// The checks step: window size, the screen's refresh rate (requestAnimationFrame intervals), and
// the websocket's round trip and clock-sync quality (ping/pong, docs/protocol.md). The results are
// posted to the server, which records them and decides the layout (side by side, or stacked when
// the window is small and the study allows it).

import { postJson } from "./http.js";
import { Clock, Connection, median } from "./socket.js";

const root = document.getElementById("checks");
const statusLine = document.getElementById("checks-status");
const failed = document.getElementById("checks-failed");
const PINGS = 8;
const SOCKET_TIMEOUT_MS = 8000;

function measureFrames(count = 40) {
  return new Promise((resolve) => {
    const stamps = [];
    const step = (now) => {
      stamps.push(now);
      if (stamps.length > count) {
        const gaps = stamps.slice(1).map((t, i) => t - stamps[i]);
        const frameMs = median(gaps);
        resolve({ frame_ms_median: frameMs, refresh_hz: frameMs > 0 ? 1000 / frameMs : 0 });
      } else requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
    // A hidden tab gets no frames: don't wait forever.
    setTimeout(() => resolve({ frame_ms_median: 0, refresh_hz: 0 }), 4000);
  });
}

function measureSocket() {
  // Ping/pong rounds on the participant's socket, through the same clock estimator the trial uses.
  return new Promise((resolve) => {
    const clock = new Clock();
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      connection.close();
      resolve(clock.quality());
    };
    const connection = new Connection(root.dataset.socketPath, {
      onMessage: (data) => data.type === "pong" && clock.onPong(data),
      onOpen: () => clock.sync(connection, PINGS, SOCKET_TIMEOUT_MS).then(finish),
    });
    const timer = setTimeout(finish, SOCKET_TIMEOUT_MS);
    connection.open();
  });
}

async function run() {
  failed.hidden = true;
  statusLine.classList.remove("error");
  statusLine.textContent = "Checking…";
  const frames = await measureFrames();
  statusLine.textContent = "Checking the connection…";
  const socket = await measureSocket();
  const results = {
    viewport_width: window.innerWidth,
    viewport_height: window.innerHeight,
    device_pixel_ratio: window.devicePixelRatio || 1,
    ...frames,
    ...socket,
  };
  let answer;
  try {
    answer = await (await postJson(root.dataset.postUrl, results)).json();
  } catch {
    answer = { error: "offline" };
  }
  if (answer.next_url) {
    statusLine.textContent = "All set.";
    location.assign(answer.next_url);
    return;
  }
  // The reason goes into the status line itself, so screen readers announce it, not just the failure.
  const reason = answer.error
    ? "We could not reach the study server. Please check your connection and try again."
    : `This study needs a browser window at least ${root.dataset.minWidth} × ${root.dataset.minHeight} pixels; ` +
      `yours is ${window.innerWidth} × ${window.innerHeight}. ` +
      "Please use a computer, enlarge or maximise the window, and check again.";
  statusLine.textContent = `The check did not pass. ${reason}`;
  statusLine.classList.add("error");
  failed.hidden = false;
  document.getElementById("checks-retry").focus();
}

document.getElementById("checks-retry").addEventListener("click", run);
run();
