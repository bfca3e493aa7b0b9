"""Synthetic stream profiles: the few numbers that describe how a simulated model streams."""

import math
from dataclasses import dataclass, fields

JITTERS = ("none", "lognormal", "gamma", "normal")
THINKING_DISPLAYS = ("hidden", "visible", "none")


@dataclass(frozen=True)
class SyntheticProfile:
    """How a synthetic model streams.

    ``ttft_s`` is the time from the request to the first token of *any* phase: the first thinking
    token when ``thinking_tokens > 0``, otherwise the first answer token. Inter-token gaps have mean
    ``1 / speed`` of their phase and coefficient of variation ``jitter_cv`` drawn from ``jitter``.
    ``thinking_display`` only tells the interface how to show the thinking phase ("hidden": an
    indicator without text, "visible": the text, "none": nothing at all); the wait is the same.
    """

    ttft_s: float = 0.5
    tokens_per_second: float = 50.0
    jitter: str = "lognormal"
    jitter_cv: float = 0.0
    stall_probability: float = 0.0
    stall_s: float = 0.0
    chunk_tokens: int = 1
    thinking_tokens: int = 0
    thinking_tokens_per_second: float = 0.0
    thinking_display: str = "hidden"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be finite, got {value!r}")
        if self.tokens_per_second <= 0 or not math.isfinite(1 / self.tokens_per_second):
            raise ValueError("tokens_per_second must be > 0")
        if self.ttft_s < 0:
            raise ValueError("ttft_s must be >= 0")
        if self.jitter not in JITTERS:
            raise ValueError(f"jitter must be one of {JITTERS}, got {self.jitter!r}")
        if self.jitter_cv < 0:
            raise ValueError("jitter_cv must be >= 0")
        if not 0.0 <= self.stall_probability <= 1.0:
            raise ValueError("stall_probability must be within [0, 1]")
        if self.stall_s < 0:
            raise ValueError("stall_s must be >= 0")
        if self.chunk_tokens < 1:
            raise ValueError("chunk_tokens must be >= 1")
        if self.thinking_tokens < 0:
            raise ValueError("thinking_tokens must be >= 0")
        if self.thinking_tokens_per_second < 0 or (
            self.thinking_tokens_per_second and not math.isfinite(1 / self.thinking_tokens_per_second)
        ):
            raise ValueError("thinking_tokens_per_second must be >= 0 (0 means tokens_per_second)")
        if self.thinking_display not in THINKING_DISPLAYS:
            raise ValueError(
                f"thinking_display must be one of {THINKING_DISPLAYS}, got {self.thinking_display!r}"
            )

    @property
    def thinking_speed(self) -> float:
        """Thinking-phase tokens/s: ``thinking_tokens_per_second``, or the answer speed when 0."""
        return self.thinking_tokens_per_second or self.tokens_per_second
