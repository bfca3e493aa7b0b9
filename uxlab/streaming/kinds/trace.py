"""Recorded-trace arms: a real backend's response (text plus per-chunk timing) replayed exactly or
re-timed to a target speed, so content stays fixed while only speed varies (streaming/traces.py).

The recording is a shipped cadence (``builtin``) or a live arm's recorded response to each prompt
(``recorded_arm``), which the studies app lends through ``stimulus``'s ``recording``.
"""

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from uxlab.streaming.kinds.base import ArmKind, ArmSettings, StimulusNotReady, tokenizer_for
from uxlab.streaming.kinds.fields import Number, PresetName, Seconds, Slug, TokenizerPath, TokensPerSecond
from uxlab.streaming.profiles import THINKING_DISPLAYS
from uxlab.streaming.tokens import split_tokens
from uxlab.streaming.traces import BUILTIN_CADENCES, builtin_offsets, replay_schedule, retime, trace_tokens

# How a trace is re-timed (besides its source, ``builtin`` or ``recorded_arm``).
RETIME_FIELDS = ("tokens_per_second", "ttft_s", "speed_factor")


class TraceKind(ArmKind):
    name = "trace"

    class Settings(ArmSettings):
        """A shipped cadence or a live arm's recording, re-timed by a speed factor or to a speed."""

        preset: PresetName | None = None
        builtin: Literal[tuple(BUILTIN_CADENCES)] | None = None
        recorded_arm: Slug | None = None
        tokens_per_second: TokensPerSecond | None = None
        ttft_s: Seconds | None = None
        speed_factor: Annotated[Number, Field(ge=0.01, le=100)] | None = None
        thinking_display: Literal[THINKING_DISPLAYS] = "hidden"
        tokenizer: TokenizerPath = ""

        @model_validator(mode="before")
        @classmethod
        def _fill_from_preset(cls, data):
            return cls.fill_from_preset(data, ("tokens_per_second", "ttft_s"))

        @model_validator(mode="after")
        def _check_one_recording_and_one_speed(self):
            if (self.builtin is None) == (self.recorded_arm is None):
                raise PydanticCustomError("trace_source", "give exactly one of builtin and recorded_arm")
            if self.speed_factor is not None and self.tokens_per_second is not None:
                raise PydanticCustomError("trace_speed", "give speed_factor or tokens_per_second, not both")
            return self

        @property
        def profile(self):
            fields = {"builtin", "recorded_arm", *RETIME_FIELDS, "thinking_display"}
            profile = self.model_dump(include=fields, exclude_none=True)
            if self.tokenizer:
                profile["tokenizer"] = self.tokenizer
            return profile

    def study_errors(self, settings, kind_of_arm):
        """A ``recorded_arm`` must name an arm of the same study that can be recorded (a live arm)."""
        name = settings.recorded_arm
        if name is not None and not getattr(kind_of_arm(name), "recordable", False):
            return {"recorded_arm": f"'{name}' is not a live arm of this study"}
        return {}

    def stimulus(self, profile, prompt_text, recording):
        """The built-in cadence's offsets, or the recorded arm's response (text and chunks) to the
        prompt, which replaces the prompt's own response text."""
        profile = profile or {}
        if profile.get("builtin"):
            return {"trace": {"offsets": list(builtin_offsets(profile["builtin"]))}}
        recorded = recording(profile.get("recorded_arm"))
        if recorded is None:
            raise StimulusNotReady(f"arm {profile.get('recorded_arm')!r} has no recording for this prompt")
        return {"content": recorded["text"], "reasoning": recorded["reasoning"], "trace": {"chunks": recorded["chunks"]}}

    def longest_pane_s(self, profile, content, reasoning=""):
        """How long the pane streams: exactly, for a built-in cadence (its schedule is known at
        import); about, with a target speed; otherwise unknown here (a recorded arm's response
        exists only once it is recorded)."""
        if profile.get("builtin"):
            tokens = self.schedule({"profile": profile, "content": content, "trace": {}})
            return max((token.due_s for token in tokens), default=0.0)
        if not profile.get("tokens_per_second"):
            return None
        return (profile.get("ttft_s") or 0.0) + len(split_tokens(content)) / profile["tokens_per_second"]

    def schedule(self, spec):
        profile = spec.get("profile") or {}
        tokenize = tokenizer_for(profile)
        trace = spec.get("trace") or {}
        if trace.get("chunks") is not None:
            tokens = trace_tokens(trace["chunks"], tokenize)
        else:
            offsets = trace.get("offsets") or builtin_offsets(profile["builtin"])
            tokens = replay_schedule(list(offsets), spec["content"], tokenize=tokenize)
        return retime(tokens, **{key: profile[key] for key in RETIME_FIELDS if profile.get(key) is not None})
