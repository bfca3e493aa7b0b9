// The two panes of a trial and the socket that feeds them (protocol: docs/protocol.md).

export class Panes {
  constructor(root) {
    this.root = root;
    this.thinkingTimers = {};
  }

  pane(name) {
    return this.root.querySelector(`#pane-${name}`);
  }

  reset() {
    for (const name of ["A", "B"]) {
      const el = this.pane(name);
      el.querySelector(".answer").textContent = "";
      el.querySelector(".reasoning-text").textContent = "";
      el.querySelector(".reasoning").hidden = true;
      this.stopThinking(name);
      el.classList.remove("done");
    }
  }

  startThinking(name) {
    if (this.thinkingTimers[name]) return;
    const box = this.pane(name).querySelector(".thinking");
    const started = performance.now();
    const elapsed = box.querySelector(".elapsed");
    box.hidden = false;
    elapsed.textContent = "0";
    this.thinkingTimers[name] = setInterval(() => {
      elapsed.textContent = String(Math.floor((performance.now() - started) / 1000));
    }, 250);
  }

  stopThinking(name) {
    clearInterval(this.thinkingTimers[name]);
    delete this.thinkingTimers[name];
    this.pane(name).querySelector(".thinking").hidden = true;
  }

  show(delta) {
    const el = this.pane(delta.pane);
    if (delta.phase === "thinking") {
      if (delta.text) {
        const box = el.querySelector(".reasoning");
        box.hidden = false;
        box.open = true;
        box.querySelector(".reasoning-text").append(delta.text);
      } else {
        this.startThinking(delta.pane);
      }
      return;
    }
    this.stopThinking(delta.pane);
    el.querySelector(".reasoning").open = false;
    el.querySelector(".answer").append(delta.text);
  }

  finish(name) {
    this.stopThinking(name);
    this.pane(name).classList.add("done");
  }
}

export class Connection {
  // Keeps one socket open, reconnecting with jittered backoff; `onOpen` runs after every (re)connect.
  constructor(url, { onOpen, onMessage, onStatus }) {
    this.url = url;
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.attempts = 0;
    this.closed = false;
    this.socket = null;
  }

  open() {
    this.onStatus(this.attempts ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempts = 0;
      this.onOpen();
    });
    socket.addEventListener("message", (event) => this.onMessage(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      if (this.closed) return;
      this.attempts += 1;
      const delay = Math.min(8000, 250 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
      this.onStatus("Connection lost. Reconnecting…");
      setTimeout(() => this.open(), delay);
    });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
  }
}
