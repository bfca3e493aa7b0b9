// The answer outbox: every answer (and telemetry batch) stays in localStorage, keyed by a UUID,
// until the server confirms it is stored. Resending is safe: the server stores each key once.

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// What must be stored before a trial page moves on. A trial with another to come
// (`data-telemetry-follows`) waits for its answers only: its telemetry stays in the outbox, which
// the next trial's page sends as its socket opens (workers store telemetry after every waiting
// answer, docs/reliability.md). Any other trial (the last, or one whose answer may end the session)
// waits for every trial's telemetry too: the completion code needs it (the done page's saving state
// sends only what this browser's outbox still holds, as a last resort).
export function mustBeStoredFirst(message, trialIndex, telemetryFollows) {
  if (message.type === "telemetry.submit") return !telemetryFollows;
  return message.trial === trialIndex;
}

export class Outbox {
  constructor(token) {
    this.storageKey = `uxlab.outbox.${token}`;
  }

  entries() {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey) || "{}");
    } catch {
      return {};
    }
  }

  messages() {
    return Object.values(this.entries());
  }

  put(message) {
    const entries = this.entries();
    entries[message.key] = message;
    localStorage.setItem(this.storageKey, JSON.stringify(entries));
  }

  remove(key) {
    const entries = this.entries();
    delete entries[key];
    localStorage.setItem(this.storageKey, JSON.stringify(entries));
  }

  has(key) {
    return key in this.entries();
  }
}
