"""What a participant's page reports of a stream, for the simulated participants of the
benchmarks: the telemetry the real page (web/static/js/stream.js) would send had it drawn every
60 Hz frame on time, so the analysis judges a simulated trial by the standard a real one meets.

The page shows each token of a `stream.delta` in the first animation frame at or after both the
message's arrival and the token's own due time (`parts`, docs/protocol.md), and reports one
`update` per frame and message: `[seq, tokens, frame_ms, presented_ms]`.
"""

import math

FRAME_MS = 1000 / 60
RENDER_MS = 4.0  # the frame's style, layout and paint, before the presentation estimate


def next_frame(ms):
    """The first 60 Hz frame time (ms after t0) at or after `ms`."""
    return math.ceil(ms / FRAME_MS - 1e-9) * FRAME_MS


def token_dues(delta):
    """Each token's due time (ms after t0) of one `stream.delta`."""
    parts = delta.get("parts")
    if parts:
        return [due for due, _text in parts]
    return [delta["due_ms"]] * max(1, int(delta.get("tokens") or 1))


class SimulatedPage:
    """Collects one trial's `frames` and `updates` as the deltas arrive (times in ms after t0)."""

    def __init__(self):
        self.frames, self.updates = [], []

    def show(self, delta, receive_ms):
        by_frame = {}
        for due in token_dues(delta):
            frame = next_frame(max(receive_ms, due))
            by_frame[frame] = by_frame.get(frame, 0) + 1
        frames = sorted(by_frame)
        self.frames.append([delta["seq"], receive_ms, frames[0]])
        self.updates += [[delta["seq"], by_frame[frame], frame, frame + RENDER_MS] for frame in frames]

    def telemetry(self):
        """The fields of `telemetry.submit` this page reports (clock and frame rate included)."""
        return {
            "frames": self.frames,
            "updates": self.updates,
            "clock": {"offset_ms": 0.0, "rtt_ms": 1.0, "rounds": 12, "uncertainty_ms": 0.5},
            "frame_ms": FRAME_MS,
        }
