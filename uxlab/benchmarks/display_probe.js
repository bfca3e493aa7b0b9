// An outside probe of what a trial page displays, injected before the page's own scripts
// (Playwright's add_init_script). It reads nothing uxlab measures: a MutationObserver sees every
// change to the two panes, and every animation-frame callback the page registers is wrapped so a
// change made by it is attributed to that frame's time (the records are taken synchronously as the
// callback returns); a change made anywhere else is timed when the observer sees it. From the
// socket it reads only what it needs to put the schedule on the page's clock: the trial's t0
// (stream.start) and the clock offset the page used (the `clock` of its telemetry message).
(() => {
  const probe = {
    timeOrigin: performance.timeOrigin,
    starts: [], // [t0_ms (server epoch), after_seq, received at (page ms)]
    clocks: [], // the page's clock estimate, as its telemetry reported it
    frames: [], // the probe's own animation-frame times, for the frame interval
    changes: [], // [pane, frame time or null, observed at, answer length, reasoning length, indicator shown]
  };
  window.__uxlabProbe = probe;

  const NativeSocket = window.WebSocket;
  const nativeSend = NativeSocket.prototype.send;
  NativeSocket.prototype.send = function (data) {
    try {
      const message = JSON.parse(data);
      if (message.type === "telemetry.submit") probe.clocks.push(message.clock);
    } catch (error) {
      // not JSON: nothing for the probe
    }
    return nativeSend.call(this, data);
  };
  window.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      // Registered before the page's own listener, so it sees each message first.
      this.addEventListener("message", (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "stream.start") probe.starts.push([message.t0_ms, message.after_seq, performance.now()]);
      });
    }
  };

  const last = {};
  const paneOf = (node) => {
    const element = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
    const pane = element && element.closest("[id^='pane-']");
    return pane ? pane.id.slice(5) : null;
  };
  const record = (records, frameTime) => {
    if (!records.length) return;
    const now = performance.now();
    const panes = new Set(records.map((item) => paneOf(item.target)).filter(Boolean));
    for (const name of panes) {
      const pane = document.getElementById(`pane-${name}`);
      const state = [
        pane.querySelector(".answer").textContent.length,
        pane.querySelector(".reasoning-text").textContent.length,
        !pane.querySelector(".thinking").hidden,
      ];
      const before = last[name];
      if (before && before.every((value, index) => value === state[index])) continue;
      last[name] = state;
      probe.changes.push([name, frameTime, now, ...state]);
    }
  };
  const observer = new MutationObserver((records) => record(records, null));
  observer.observe(document, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeFilter: ["hidden"],
  });

  const nativeFrame = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) =>
    nativeFrame((frameTime) => {
      try {
        callback(frameTime);
      } finally {
        record(observer.takeRecords(), frameTime);
      }
    });
  const loop = (frameTime) => {
    probe.frames.push(frameTime);
    if (probe.frames.length > 40000) probe.frames.splice(0, 20000);
    nativeFrame(loop);
  };
  nativeFrame(loop);
})();
