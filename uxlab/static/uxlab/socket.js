// The websocket pieces every page shares: the URL of a socket path on this host, one connection
// kept open by a reconnect loop, and the one estimate of the server's clock (docs/protocol.md).

export function socketUrl(path) {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

// Close codes after which reconnecting cannot help (docs/protocol.md): no such participant, or a
// session that is over (expired or complete).
const FINAL_CLOSE_CODES = new Set([4404, 4410]);

export class Connection {
  // Keeps one socket open, reconnecting with jittered backoff; `onOpen` runs after every (re)connect,
  // `onMessage` gets each frame parsed, `onStatus` a sentence for the page while (re)connecting,
  // `onFinalClose` the close code when the server ended the session for good (no reconnect then).
  constructor(path, { onOpen = () => {}, onMessage = () => {}, onStatus = () => {}, onFinalClose = () => {} }) {
    this.url = socketUrl(path);
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onFinalClose = onFinalClose;
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
    socket.addEventListener("close", (event) => {
      if (this.closed) return;
      if (FINAL_CLOSE_CODES.has(event.code)) {
        this.closed = true;
        this.onFinalClose(event.code);
        return;
      }
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

// --- clock sync ----------------------------------------------------------------------------------

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

export class Clock {
  // Estimates the server↔browser clock offset from ping/pong rounds, NTP style. The estimate is the
  // round with the smallest round trip: the server read its clock somewhere within that round trip,
  // so the true offset lies within ± half of it (the uncertainty); how far the fastest half of the
  // rounds disagree says how well the clocks can be synced at all.
  constructor() {
    this.samples = []; // {rtt, offset} per round, in ms
    this.best = null;
    this.waiting = null;
  }

  static epochMs() {
    return performance.timeOrigin + performance.now();
  }

  get rounds() {
    return this.samples.length;
  }

  // Ping `rounds` times, one after another; resolves with the best round (or null) when done or at timeout.
  sync(connection, rounds = 6, timeoutMs = 3000) {
    return new Promise((resolve) => {
      let left = rounds;
      const finish = () => {
        this.waiting = null;
        clearTimeout(timer);
        resolve(this.best);
      };
      const timer = setTimeout(finish, timeoutMs);
      this.waiting = () => {
        left -= 1;
        if (left <= 0) finish();
        else connection.send({ type: "ping", t: Clock.epochMs() });
      };
      connection.send({ type: "ping", t: Clock.epochMs() });
    });
  }

  onPong(message) {
    const rtt = Clock.epochMs() - message.t;
    const sample = { rtt, offset: message.server_ms - (message.t + rtt / 2) };
    this.samples.push(sample);
    if (!this.best || rtt < this.best.rtt) this.best = sample;
    if (this.waiting) this.waiting();
  }

  // A server epoch time (ms) on this page's performance.now() clock, the one rAF uses.
  toPerf(serverMs) {
    const offset = this.best ? this.best.offset : 0;
    return serverMs - offset - performance.timeOrigin;
  }

  // The estimate as a trial's telemetry reports it; `uncertainty_ms` bounds its error (rtt / 2).
  estimate() {
    if (!this.best) return null;
    return { offset_ms: this.best.offset, rtt_ms: this.best.rtt, rounds: this.rounds, uncertainty_ms: this.best.rtt / 2 };
  }

  // The estimate and its quality as the checks page reports them.
  quality() {
    if (!this.samples.length) {
      return { ws_rtt_ms_median: 0, ws_rtt_ms_min: 0, clock_offset_ms: 0, clock_offset_spread_ms: 0, pings: 0 };
    }
    const fastest = [...this.samples].sort((a, b) => a.rtt - b.rtt).slice(0, Math.ceil(this.samples.length / 2));
    const offsets = fastest.map((sample) => sample.offset);
    return {
      ws_rtt_ms_median: median(this.samples.map((sample) => sample.rtt)),
      ws_rtt_ms_min: this.best.rtt,
      clock_offset_ms: this.best.offset,
      clock_offset_spread_ms: Math.max(...offsets) - Math.min(...offsets),
      pings: this.samples.length,
    };
  }
}
