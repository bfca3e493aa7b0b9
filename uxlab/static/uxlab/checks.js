// The checks step: window size, the screen's refresh rate (requestAnimationFrame intervals), and
// the websocket's round trip and clock-sync quality (ping/pong, docs/protocol.md). The results are
// posted to the server, which records them and decides the layout (side by side, or stacked when
// the window is small and the study allows it).

const root = document.getElementById("checks");
const statusLine = document.getElementById("checks-status");
const failed = document.getElementById("checks-failed");
const message = document.getElementById("checks-message");
const PINGS = 8;

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

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
  return new Promise((resolve) => {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root.dataset.socketPath}`;
    const socket = new WebSocket(url);
    const samples = [];
    const finish = () => {
      socket.close();
      if (!samples.length) {
        resolve({ ws_rtt_ms_median: 0, ws_rtt_ms_min: 0, clock_offset_ms: 0, clock_offset_spread_ms: 0, pings: 0 });
        return;
      }
      // Offset of the server clock from ours, estimated at the midpoint of each round trip;
      // the spread of the estimates of the fastest half says how well the clocks can be synced.
      const best = [...samples].sort((a, b) => a.rtt - b.rtt).slice(0, Math.max(1, Math.ceil(samples.length / 2)));
      const offsets = best.map((s) => s.offset);
      resolve({
        ws_rtt_ms_median: median(samples.map((s) => s.rtt)),
        ws_rtt_ms_min: Math.min(...samples.map((s) => s.rtt)),
        clock_offset_ms: median(offsets),
        clock_offset_spread_ms: Math.max(...offsets) - Math.min(...offsets),
        pings: samples.length,
      });
    };
    const ping = () => socket.send(JSON.stringify({ type: "ping", t: performance.now() }));
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "hello") ping();
      if (data.type !== "pong") return;
      const now = performance.now();
      const rtt = now - data.t;
      const wallAtMidpoint = performance.timeOrigin + data.t + rtt / 2;
      samples.push({ rtt, offset: data.server_ms - wallAtMidpoint });
      if (samples.length >= PINGS) finish();
      else ping();
    });
    socket.addEventListener("error", finish);
    setTimeout(finish, 8000);
  });
}

async function run() {
  failed.hidden = true;
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
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  let answer;
  try {
    const response = await fetch(root.dataset.postUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(results),
    });
    answer = await response.json();
  } catch {
    answer = { error: "offline" };
  }
  if (answer.next_url) {
    statusLine.textContent = "All set.";
    location.assign(answer.next_url);
    return;
  }
  statusLine.textContent = "The check did not pass.";
  message.textContent = answer.error
    ? "We could not reach the study server. Please check your connection and try again."
    : `This study needs a browser window at least ${root.dataset.minWidth} × ${root.dataset.minHeight} pixels. ` +
      "Please use a computer, enlarge or maximise the window, and check again.";
  failed.hidden = false;
  document.getElementById("checks-retry").focus();
}

document.getElementById("checks-retry").addEventListener("click", run);
run();
