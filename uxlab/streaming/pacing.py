"""Group scheduled tokens into messages and send them on time.

A browser paints at most once per 60 Hz frame, so tokens due within one frame window are sent in
one message: fewer messages. The window is the server's, not the display's (whose frame phase the
server does not know), so a message keeps every token's own due time and text: the browser shows
each token in the first display frame at or after *its* due time, never at its message's first
(docs/protocol.md). The pacer takes its clock and sleep as arguments so tests drive it with a fake
clock and never sleep.
"""

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from uxlab.streaming.schedule import ANSWER, Token

FRAME_S = 1 / 60

# Tolerance (in frames) so a token due exactly on a window boundary is not pushed back into the
# previous window by floating-point rounding.
_EPS_FRAMES = 1e-9


@dataclass(frozen=True, slots=True)
class Frame:
    """Text of ``tokens`` consecutive same-phase tokens of one pane, the first due ``due_s`` after t0.

    ``token_due_s`` and ``token_texts`` give each token's own due time and text (empty for a frame
    not built from a schedule, whose tokens are all due at ``due_s``).
    """

    pane: str
    due_s: float
    text: str
    phase: str
    tokens: int
    last: bool
    token_due_s: tuple[float, ...] = ()
    token_texts: tuple[str, ...] = ()

    def token_dues(self) -> tuple[float, ...]:
        """Each token's due time after t0 (all ``due_s`` when the frame does not say)."""
        return self.token_due_s or (self.due_s,) * self.tokens


def coalesce(pane: str, tokens: list[Token], frame_s: float = FRAME_S) -> list[Frame]:
    """Merge consecutive same-phase tokens whose due times fall in the same frame window.

    Windows are counted from the pane's own first token, ``[first + k*frame_s, first +
    (k+1)*frame_s)``, so a pane's first text is never delayed to a global frame grid. A frame is
    sent when its first token is due and carries every token's due time, so none is shown early.
    No tokens gives one empty final frame, so every pane ends.
    """
    if not tokens:
        return [Frame(pane, 0.0, "", ANSWER, 0, True)]
    dues = [token.due_s for token in tokens]
    texts = [token.text for token in tokens]
    phases = [token.phase for token in tokens]
    first_due, slack = dues[0], frame_s * _EPS_FRAMES
    frames: list[Frame] = []

    def close(start, end, last):
        group_dues, group_texts = tuple(dues[start:end]), tuple(texts[start:end])
        frames.append(Frame(pane, group_dues[0], "".join(group_texts), phases[start], end - start, last, group_dues, group_texts))

    # The group so far is tokens[start:index]; a token of another phase or past its window starts the next.
    start, phase = 0, phases[0]
    window_end = first_due + (math.floor((first_due - first_due) / frame_s + _EPS_FRAMES) + 1) * frame_s
    for index in range(1, len(dues)):
        due = dues[index]
        if phases[index] != phase or due >= window_end - slack:
            close(start, index, False)
            start, phase = index, phases[index]
            window_end = first_due + (math.floor((due - first_due) / frame_s + _EPS_FRAMES) + 1) * frame_s
    close(start, len(dues), True)
    return frames


def merge_panes(frames_by_pane: dict[str, list[Frame]]) -> list[Frame]:
    """All panes' frames in due order; ties keep pane order, then each pane's own order."""
    return sorted(
        (frame for frames in frames_by_pane.values() for frame in frames),
        key=lambda frame: frame.due_s,
    )


class Pacer:
    """Send frames at ``t0 + due_s`` using an injected clock and sleep.

    ``lateness_s`` records, per sent frame, how late it went out (``clock() - (t0 + due_s)``);
    ``next_index`` is the index of the next frame to send, which is where a resumed stream starts.
    """

    def __init__(
        self,
        frames: list[Frame],
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        at: Callable[[object], float] | None = None,
    ) -> None:
        self.frames = frames
        self.clock = clock
        self.sleep = sleep
        # When each item is due after t0: a frame's due_s unless the caller says otherwise.
        self.at = at or (lambda frame: frame.due_s)
        self.t0: float | None = None
        self.next_index = 0
        self.lateness_s: list[float] = []

    async def run(
        self,
        send: Callable[[Frame], Awaitable[None]],
        start_at: float | None = None,
        start_index: int = 0,
    ) -> None:
        """Send frames from ``start_index`` on, timed from ``start_at`` (default: now).

        To resume after a reconnect, pass the original ``t0`` as ``start_at`` and the number of
        frames already delivered as ``start_index``: frames that are already due go out at once.
        """
        self.t0 = self.clock() if start_at is None else start_at
        self.next_index = start_index
        for index in range(start_index, len(self.frames)):
            frame = self.frames[index]
            due = self.at(frame)
            delay = self.t0 + due - self.clock()
            if delay > 0:
                await self.sleep(delay)
            self.lateness_s.append(self.clock() - (self.t0 + due))
            await send(frame)
            self.next_index = index + 1

    def lateness_summary(self) -> dict:
        """How late the sent items left, in ms: count, p50, p99 and max."""
        lateness_ms = [value * 1000 for value in self.lateness_s]
        if not lateness_ms:
            return {"messages": 0}
        return {
            "messages": len(lateness_ms),
            "send_lateness_ms": {
                "p50": percentile(lateness_ms, 50),
                "p99": percentile(lateness_ms, 99),
                "max": max(lateness_ms),
            },
        }


def percentile(values, q):
    """Linear-interpolation percentile (numpy's default) of a list; None when it is empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
