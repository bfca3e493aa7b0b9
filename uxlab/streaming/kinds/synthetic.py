"""Synthetic arms: a latency profile (TTFT, tokens/s, jitter, stalls, chunking, a thinking phase)
turned into a seeded schedule (streaming/profiles.py, streaming/schedule.py)."""

from dataclasses import fields
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from uxlab.streaming.kinds.base import ArmKind, ArmSettings, tokenizer_for
from uxlab.streaming.kinds.fields import Count, Number, PresetName, Seconds, TokenizerPath, TokensPerSecond
from uxlab.streaming.profiles import JITTERS, THINKING_DISPLAYS, SyntheticProfile
from uxlab.streaming.schedule import build_schedule
from uxlab.streaming.tokens import split_tokens

# The settings that make up a synthetic Arm.profile, in SyntheticProfile's order.
PROFILE_FIELDS = tuple(field.name for field in fields(SyntheticProfile))

_DEFAULT_PROFILE = SyntheticProfile()


class SyntheticKind(ArmKind):
    name = "synthetic"
    varies = ("tokens_per_second", "ttft_s", "thinking_tokens")

    class Settings(ArmSettings):
        """The synthetic profile (see SyntheticProfile); ``preset`` names a preset of
        streaming/presets.py whose values fill the fields left out."""

        preset: PresetName | None = None
        ttft_s: Seconds = _DEFAULT_PROFILE.ttft_s
        tokens_per_second: TokensPerSecond = _DEFAULT_PROFILE.tokens_per_second
        jitter: Literal[JITTERS] = _DEFAULT_PROFILE.jitter
        jitter_cv: Annotated[Number, Field(ge=0, le=3)] = _DEFAULT_PROFILE.jitter_cv
        stall_probability: Annotated[Number, Field(ge=0, le=1)] = _DEFAULT_PROFILE.stall_probability
        stall_s: Annotated[Number, Field(ge=0, le=60)] = _DEFAULT_PROFILE.stall_s
        chunk_tokens: Annotated[Count, Field(ge=1, le=1000)] = _DEFAULT_PROFILE.chunk_tokens
        thinking_tokens: Annotated[Count, Field(ge=0, le=100_000)] = _DEFAULT_PROFILE.thinking_tokens
        # 0 means the answer's speed; otherwise a speed in TokensPerSecond's range.
        thinking_tokens_per_second: Annotated[Number, Field(ge=0, le=100_000)] = (
            _DEFAULT_PROFILE.thinking_tokens_per_second
        )
        thinking_display: Literal[THINKING_DISPLAYS] = _DEFAULT_PROFILE.thinking_display
        tokenizer: TokenizerPath = ""

        @model_validator(mode="before")
        @classmethod
        def _fill_from_preset(cls, data):
            return cls.fill_from_preset(data, PROFILE_FIELDS)

        @field_validator("thinking_tokens_per_second")
        @classmethod
        def _zero_or_a_speed(cls, value):
            if 0 < value < 0.1:
                raise PydanticCustomError("thinking_speed", "must be 0 (the answer's speed) or >= 0.1")
            return value

        @property
        def profile(self):
            """The profile fields (plus ``tokenizer`` when one is named)."""
            profile = self.model_dump(include=set(PROFILE_FIELDS))
            if self.tokenizer:
                profile["tokenizer"] = self.tokenizer
            return profile

    def dimension_value(self, profile, dimension):
        """Stored values over SyntheticProfile's defaults (a profile may leave a field out)."""
        value = (profile or {}).get(dimension, getattr(_DEFAULT_PROFILE, dimension, None))
        return None if value is None else float(value)

    def longest_pane_s(self, profile, content, reasoning=""):
        """About how long a pane of this profile streams ``content``: its mean timing plus the
        expected stalls (the study file checks it against the session's time limit)."""
        synthetic = SyntheticProfile(**{key: value for key, value in profile.items() if key in PROFILE_FIELDS})
        answer_tokens = len(split_tokens(content))
        tokens = synthetic.thinking_tokens + answer_tokens
        return (
            synthetic.ttft_s
            + synthetic.thinking_tokens / synthetic.thinking_speed
            + answer_tokens / synthetic.tokens_per_second
            + max(0, tokens - 1) * synthetic.stall_probability * synthetic.stall_s
        )

    def schedule(self, spec):
        profile = dict(spec.get("profile") or {})
        tokenize = tokenizer_for(profile)
        profile.pop("tokenizer", None)
        synthetic = SyntheticProfile(**profile)
        return build_schedule(synthetic, spec["content"], spec["seed"], spec.get("reasoning", ""), tokenize=tokenize)

    def export(self, profile):
        """Every profile field: stored values over SyntheticProfile's defaults. Keys that are not
        profile fields are kept (after the known ones), so an export shows them rather than
        silently dropping them."""
        stored = profile or {}
        exported = {name: stored.get(name, getattr(_DEFAULT_PROFILE, name)) for name in PROFILE_FIELDS}
        exported.update((key, value) for key, value in stored.items() if key not in exported)
        return exported
