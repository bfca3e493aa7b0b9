"""Replay recorded decode cadences (``/work/shared/traces/trace_*.json``) with any text."""

import json
import statistics
from pathlib import Path

from uxlab.streaming.schedule import ANSWER, Token
from uxlab.streaming.tokens import split_tokens


def load_offsets(path: str | Path) -> list[float]:
    """Read ``offsets_s`` (token times from the request's start, in seconds) from a trace file."""
    data = json.loads(Path(path).read_text())
    offsets = data.get("offsets_s") if isinstance(data, dict) else None
    if not isinstance(offsets, list) or not offsets:
        raise ValueError(f"{path}: expected a non-empty list under 'offsets_s'")
    return [float(x) for x in offsets]


def replay_schedule(
    offsets: list[float],
    content: str,
    *,
    speed_factor: float = 1.0,
    ttft_s: float | None = None,
) -> list[Token]:
    """Put the answer tokens of ``content`` on the recorded ``offsets``.

    Extra tokens beyond the recording continue at the median recorded gap; with fewer tokens the
    first offsets are used. Gaps are divided by ``speed_factor``; ``ttft_s`` moves the first token
    (otherwise it keeps its recorded time).
    """
    if speed_factor <= 0:
        raise ValueError("speed_factor must be > 0")
    texts = split_tokens(content)
    if not texts:
        return []
    if not offsets:
        raise ValueError("offsets must not be empty")
    times = list(offsets[: len(texts)])
    if len(texts) > len(offsets):
        if len(offsets) < 2:
            raise ValueError("need at least two offsets to extend a trace")
        gap = statistics.median(b - a for a, b in zip(offsets, offsets[1:]))
        times += [offsets[-1] + gap * k for k in range(1, len(texts) - len(offsets) + 1)]
    if speed_factor != 1.0 or ttft_s is not None:
        # Offsets rather than summed gaps, so no rounding error accumulates along the stream.
        first = times[0] if ttft_s is None else ttft_s
        times = [first + (t - times[0]) / speed_factor for t in times]
    return [Token(t, text, ANSWER) for t, text in zip(times, texts)]
