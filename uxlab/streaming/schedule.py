"""Turn a profile and a text into a deterministic list of timed tokens.

``build_schedule`` is a pure function of its arguments: the random draws come from
``random.Random`` seeded with a SHA-256 of the seed, never from Python's salted ``hash()``, so the
same trial gets the same schedule in every process and on every replay.
"""

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from itertools import cycle, islice

from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.tokens import split_tokens

THINKING = "thinking"
ANSWER = "answer"


@dataclass(frozen=True, slots=True)
class Token:
    """One token due ``due_s`` seconds after the request, in phase "thinking" or "answer"."""

    due_s: float
    text: str
    phase: str


# Below this, jitter is far under a microsecond at any real speed; treating it as regular also
# keeps 1/cv² finite for the gamma shape.
_MIN_CV = 1e-6


def _rng(seed: int | str, stream: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{stream}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _gaps(rng: random.Random, jitter: str, mean: float, cv: float) -> Callable[[], float]:
    """A function drawing inter-token gaps with the given mean and coefficient of variation, never
    negative; the distribution's parameters are worked out once, not per token."""
    if jitter == "none" or cv < _MIN_CV:
        return lambda: mean
    if jitter == "lognormal":
        sigma2 = math.log1p(cv * cv)
        mu, sigma = math.log(mean) - sigma2 / 2, math.sqrt(sigma2)
        return lambda: rng.lognormvariate(mu, sigma)
    if jitter == "gamma":
        alpha, beta = 1 / (cv * cv), mean * cv * cv
        return lambda: rng.gammavariate(alpha, beta)
    # Normal, clipped at zero: the mean is preserved only while cv is small (< ~0.4).
    sd = mean * cv
    return lambda: max(0.0, rng.gauss(mean, sd))


def build_schedule(
    profile: SyntheticProfile,
    content: str,
    seed: int | str,
    reasoning: str = "",
    tokenize: Callable[[str], list[str]] = split_tokens,
) -> list[Token]:
    """Schedule ``profile.thinking_tokens`` thinking tokens, then the answer tokens of ``content``.

    The first token (of any phase) is due at ``ttft_s``. Each later token follows a gap drawn for
    its own phase, plus ``stall_s`` with probability ``stall_probability``. Thinking text cycles
    through ``tokenize(reasoning)``, or is "" without reasoning. ``tokenize`` defaults to the built-in
    approximation (``split_tokens``); ``tokenizer_files.open_tokenizer`` gives one from a tokenizer.json. With ``chunk_tokens > 1``,
    every token in a group of that many shares the due time of the group's last token, and the
    whole schedule is shifted so the first group still arrives at ``ttft_s``. Gaps and stalls use
    separate random streams, so changing the stall settings keeps the same jitter pattern.
    """
    reasoning_tokens = tokenize(reasoning)
    if reasoning_tokens:
        thinking_texts = list(islice(cycle(reasoning_tokens), profile.thinking_tokens))
    else:
        thinking_texts = [""] * profile.thinking_tokens
    phased = [(t, THINKING) for t in thinking_texts] + [(t, ANSWER) for t in tokenize(content)]
    if not phased:
        return []

    gap_rng = _rng(seed, "gaps")
    stall = _rng(seed, "stalls").random
    means = {THINKING: 1 / profile.thinking_speed, ANSWER: 1 / profile.tokens_per_second}
    phases = {phase for _, phase in phased[1:]}
    draw = {phase: _gaps(gap_rng, profile.jitter, means[phase], profile.jitter_cv) for phase in phases}
    stall_probability, stall_s = profile.stall_probability, profile.stall_s
    times = [0.0]
    for _, phase in phased[1:]:
        gap = draw[phase]()
        if stall() < stall_probability:
            gap += stall_s
        times.append(times[-1] + gap)

    size = profile.chunk_tokens
    for start in range(0, len(times), size):
        last = times[min(start + size, len(times)) - 1]
        times[start : start + size] = [last] * len(times[start : start + size])
    shift = profile.ttft_s - times[0]
    return [Token(t + shift, text, phase) for t, (text, phase) in zip(times, phased)]


def schedule_stats(tokens: list[Token]) -> dict:
    """Serving metrics of a schedule, with the definitions of docs/sources.md#serving-metrics (times from t0).

    ``tpot_s`` and ``tokens_per_second`` cover the answer phase only; they are None when undefined
    (fewer than two answer tokens, or all answer tokens due at once).
    """
    answer = [t for t in tokens if t.phase == ANSWER]
    first_answer = answer[0].due_s if answer else None
    e2e = tokens[-1].due_s if tokens else None
    tpot = tps = None
    if len(answer) >= 2:
        span = answer[-1].due_s - first_answer
        tpot = span / (len(answer) - 1)
        tps = (len(answer) - 1) / span if span > 0 else None
    return {
        "ttft_s": tokens[0].due_s if tokens else None,
        "first_answer_s": first_answer,
        "e2e_s": e2e,
        "answer_tokens": len(answer),
        "thinking_tokens": len(tokens) - len(answer),
        "tpot_s": tpot,
        "tokens_per_second": tps,
    }
