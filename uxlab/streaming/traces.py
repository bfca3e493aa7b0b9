"""Recorded traces: capture a live backend's response, replay it exactly or re-timed, replay the
shipped H200 decode cadences with any text, and fit the synthetic jitter model to a cadence."""

import functools
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from uxlab.streaming.backends.openai_compat import ANSWER, THINKING, BackendError, split_events, stream_chat
from uxlab.streaming.schedule import Token, schedule_stats
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
    tokenize=split_tokens,
) -> list[Token]:
    """Put the answer tokens of ``content`` on the recorded ``offsets``.

    Extra tokens beyond the recording continue at the median recorded gap; with fewer tokens the
    first offsets are used. Gaps are divided by ``speed_factor``; ``ttft_s`` moves the first token
    (otherwise it keeps its recorded time).
    """
    if speed_factor <= 0:
        raise ValueError("speed_factor must be > 0")
    texts = tokenize(content)
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


# --- Built-in cadences ---------------------------------------------------------------------------

RECORDED_DIR = Path(__file__).resolve().parent / "recorded"

# Names a study file uses for the shipped H200 decode cadences (see recorded/README.md).
BUILTIN_CADENCES = {
    **{f"h200_llama8b_batch{batch}": f"trace_llama8b_shape_h_batch{batch}.json" for batch in (1, 8, 32, 64)},
    # Synthetic: 20 tokens/s with one 2 s stall early or late, same mean speed (recorded/README.md).
    "stall_early_20tps": "cadence_stall_early.json",
    "stall_late_20tps": "cadence_stall_late.json",
}


@functools.cache
def builtin_offsets(name: str) -> tuple[float, ...]:
    """The offsets of a shipped cadence by name (``h200_llama8b_batch1`` ...)."""
    if name not in BUILTIN_CADENCES:
        raise ValueError(f"unknown built-in cadence {name!r}; one of {', '.join(BUILTIN_CADENCES)}")
    return tuple(load_offsets(RECORDED_DIR / BUILTIN_CADENCES[name]))


# --- Recorded traces of live backends -----------------------------------------------------------

TRACE_FORMAT = 1


async def capture_trace(settings, messages, *, transport=None, clock=time.perf_counter) -> dict:
    """Stream one completion from a live backend and return it as a JSON-serialisable trace.

    The trace keeps the text, the reasoning, every chunk with its arrival offset from the request
    (``chunks``: ``{"t", "phase", "text"}``), the usage the server reported and the finish reason.
    A response without answer text (e.g. ``finish_reason: length`` inside the thinking phase)
    cannot be a stimulus, so it raises BackendError("empty_answer").
    """
    events = [event async for event in stream_chat(settings, messages, transport=transport, clock=clock)]
    chunks, usage, finish = split_events(events)
    text = "".join(c.text for c in chunks if c.phase == ANSWER)
    if not text.strip():
        reason = finish.reason if finish else "none"
        raise BackendError("empty_answer", f"the response has no answer text (finish_reason: {reason})")
    return {
        "format": TRACE_FORMAT,
        "model": settings.model,
        "text": text,
        "reasoning": "".join(c.text for c in chunks if c.phase == THINKING),
        "chunks": [{"t": round(c.arrival_s, 6), "phase": c.phase, "text": c.text} for c in chunks],
        "usage": usage.raw if usage else None,
        "finish_reason": finish.reason if finish else None,
    }


def trace_tokens(chunks: list[dict], tokenize: Callable[[str], list[str]] = split_tokens) -> list[Token]:
    """Replay a recorded trace exactly: each chunk's tokens are all due when the chunk arrived."""
    tokens = []
    for chunk in chunks:
        tokens.extend(Token(float(chunk["t"]), text, chunk["phase"]) for text in tokenize(chunk["text"]))
    return tokens


def retime(
    tokens: list[Token],
    *,
    speed_factor: float | None = None,
    tokens_per_second: float | None = None,
    ttft_s: float | None = None,
) -> list[Token]:
    """The same tokens with the same rhythm, played faster or slower and/or starting at ``ttft_s``.

    Every gap after the first token is divided by one factor: ``speed_factor``, or the factor
    that makes the answer phase run at ``tokens_per_second`` (as ``schedule_stats`` measures it).
    Content and order never change.
    """
    if speed_factor is not None and tokens_per_second is not None:
        raise ValueError("give speed_factor or tokens_per_second, not both")
    if not tokens:
        return []
    factor = 1.0 if speed_factor is None else speed_factor
    if tokens_per_second is not None:
        recorded = schedule_stats(tokens)["tokens_per_second"]
        if recorded is None:
            raise ValueError("the recording has no answer span to measure its speed")
        factor = tokens_per_second / recorded
    if factor <= 0 or not math.isfinite(factor):
        raise ValueError("the speed factor must be > 0")
    start = tokens[0].due_s
    first = start if ttft_s is None else ttft_s
    return [Token(first + (t.due_s - start) / factor, t.text, t.phase) for t in tokens]


# --- Fitting the synthetic jitter model to a recorded cadence ------------------------------------

# A gap longer than this many times the median gap counts as a stall.
STALL_FACTOR = 3.0


def cadence_stats(offsets: list[float]) -> dict:
    """Tokens/s over the whole stream and the p50 / p99 / max gap of a list of token times."""
    gaps = sorted(b - a for a, b in zip(offsets, offsets[1:]))
    return {
        "tokens": len(offsets),
        "ttft_s": offsets[0],
        "tokens_per_second": (len(offsets) - 1) / (offsets[-1] - offsets[0]),
        "gap_p50_s": _quantile(gaps, 0.50),
        "gap_p99_s": _quantile(gaps, 0.99),
        "gap_max_s": gaps[-1],
    }


def fit_jitter(offsets: list[float]) -> dict:
    """The synthetic profile parameters that best imitate a recorded cadence.

    Gaps longer than ``STALL_FACTOR`` × the median are stalls: their share is
    ``stall_probability`` and their mean excess over a normal gap is ``stall_s``. The other gaps
    fix the mean (so ``tokens_per_second`` = 1 / their mean); the distribution family and its
    coefficient of variation are the ones whose median and 99th percentile best match those gaps
    (least squared log error). The result is a valid ``SyntheticProfile(**fit)``.
    """
    if len(offsets) < 3:
        raise ValueError("need at least three token times to fit a cadence")
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    median = statistics.median(gaps)
    normal = sorted(g for g in gaps if g <= STALL_FACTOR * median)
    stalls = [g for g in gaps if g > STALL_FACTOR * median]
    mean = statistics.fmean(normal)
    target = (_quantile(normal, 0.50), _quantile(normal, 0.99))
    best = ("none", 0.0, _fit_error(("none", 0.0), mean, target))
    for family in ("lognormal", "gamma", "normal"):
        for step in range(1, 301):
            cv = step / 200  # 0.005 .. 1.5
            error = _fit_error((family, cv), mean, target)
            if error < best[2]:
                best = (family, cv, error)
    return {
        "ttft_s": offsets[0],
        "tokens_per_second": 1 / mean,
        "jitter": best[0],
        "jitter_cv": round(best[1], 3),
        "stall_probability": len(stalls) / len(gaps),
        "stall_s": statistics.fmean(stalls) - mean if stalls else 0.0,
    }


def _fit_error(model, mean, target):
    return sum(math.log(_model_quantile(model, mean, q) / t) ** 2 for q, t in zip((0.50, 0.99), target))


def _model_quantile(model, mean, q):
    """Quantile q of a gap distribution with this mean and cv (as schedule._gaps draws them)."""
    family, cv = model
    if family == "none" or cv <= 0:
        return mean
    z = statistics.NormalDist().inv_cdf(q)
    if family == "lognormal":
        sigma = math.sqrt(math.log1p(cv * cv))
        return math.exp(math.log(mean) - sigma * sigma / 2 + z * sigma)
    if family == "gamma":
        # Wilson–Hilferty: accurate to a few per cent for the shapes that matter here (cv <= 1.5).
        k = 1 / (cv * cv)
        return max(1e-12, mean * (1 - 1 / (9 * k) + z * math.sqrt(1 / (9 * k))) ** 3)
    return max(1e-12, mean * (1 + z * cv))


def _quantile(sorted_values, q):
    """Linear-interpolation quantile (numpy's default) of already sorted values."""
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)
