"""The arm-kind interface: what every kind of latency condition knows about itself.

A kind is a small class, in the spirit of simonw/llm's model backends: a ``name``, the pydantic
``Settings`` it takes in a study file (they become ``Arm.profile``), and how a pane of that kind is
made — from a schedule (``schedule``, paced by the server and presented by the browser) or relayed
as produced (``relayed`` kinds implement ``events``). Register an instance in streaming/kinds
(``register``); nothing outside the registry looks at a kind's name.

A pane's *spec* is a plain dict (studies.actions.trial_pane_specs builds it): ``kind``, ``profile``,
``content`` and ``reasoning`` (the prompt's response texts), ``seed``, plus what the kind's
``stimulus`` adds for the prompt.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from uxlab.streaming.presets import PRESETS
from uxlab.streaming.schedule import ANSWER, THINKING, Token
from uxlab.streaming import tokenizer_files
from uxlab.streaming.tokens import split_tokens

# What an adaptive design may vary (docs/adaptive.md): dimension -> whether a larger value is faster
# (more tokens per second is faster; a longer time to first token or more thinking is slower).
DIMENSIONS = {"tokens_per_second": True, "ttft_s": False, "thinking_tokens": False}


class StimulusNotReady(Exception):
    """The arm's stimulus for this prompt does not exist yet (a trace that has not been recorded)."""


class ArmSettings(BaseModel):
    """A kind's settings as written in a study file; ``profile`` is what ``Arm.profile`` stores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def profile(self) -> dict:
        return self.model_dump(exclude={"preset"}, exclude_none=True)

    @classmethod
    def fill_from_preset(cls, data, fields):
        """The data with its unset ``fields`` (and label, source) taken from its named preset.

        For a ``mode="before"`` model validator. Explicit fields win; an unknown preset name is left
        for the ``preset`` field to report.
        """
        if isinstance(data, dict) and isinstance(data.get("preset"), str) and data["preset"] in PRESETS:
            preset = PRESETS[data["preset"]]
            data = dict(data)
            for key, value in preset.profile.items():
                if key in fields:
                    data.setdefault(key, value)
            # The arm's own fields, when these settings are part of a study file's arm.
            if "label" in cls.model_fields:
                data.setdefault("label", preset.label)
            if "source" in cls.model_fields:
                data.setdefault("source", preset.citation)
        return data


@dataclass(frozen=True, slots=True)
class Withheld:
    """A relayed pane's event that is kept on the server but not shown (hidden reasoning): ``events``
    yields it so the trial's record holds everything the backend sent."""

    chunk: Any  # an openai_compat Chunk


@dataclass(frozen=True, slots=True)
class Concurrency:
    """How many of a relayed arm's streams may be in flight at once (None: no limit, only counted),
    and what a trial does when they all are: wait up to ``queue_timeout_s`` ("queue") or be skipped."""

    max_in_flight: int | None = None
    when_full: str = "queue"
    queue_timeout_s: float = 60.0


# recording(arm_name) -> {"text", "reasoning", "chunks"} of that arm's recorded response to the
# trial's prompt, or None: how the studies app lends a kind its stored recordings.
Recording = Callable[[str], dict | None]


class ArmKind:
    """One kind of arm. Subclass it, set ``name`` and ``Settings``, and implement how a pane is made."""

    name: ClassVar[str]
    Settings: ClassVar[type[ArmSettings]]
    # Relayed kinds stream as a backend produces (the trial's delivery is "live"); the others are
    # paced from a schedule that is a pure function of the spec.
    relayed: ClassVar[bool] = False
    # Whether a trace can be recorded from an arm of this kind (``capture``).
    recordable: ClassVar[bool] = False

    def study_errors(self, settings: ArmSettings, kind_of_arm: Callable[[str], "ArmKind | None"]) -> dict:
        """Problems with the arm among the study's other arms, as ``{field: message}``."""
        return {}

    def longest_pane_s(self, profile: dict, content: str, reasoning: str = "") -> float | None:
        """About how many seconds a pane of this arm streams ``content``, or None when unknown
        (a live backend is bounded by its timeouts). The study file refuses a trial that could not
        finish within the session's time limit."""
        return None

    def stimulus(self, profile: dict, prompt_text: str, recording: Recording) -> dict:
        """What the pane spec adds for a prompt beyond its response texts (and may replace them)."""
        return {}

    def schedule(self, spec: dict) -> list[Token]:
        """Every token the pane's schedule holds (thinking included), due times from the common t0."""
        raise ValueError(f"a {self.name!r} arm has no schedule (live arms stream with live_events)")

    def events(self, spec: dict, *, transport=None) -> AsyncIterator:
        """A relayed pane's events (openai_compat Chunk, Usage, Finish, and ``Withheld`` for what is
        kept but not shown) as its backend produces them."""
        raise ValueError(f"a {self.name!r} arm is paced from its schedule, not relayed")

    async def capture(self, profile: dict, prompt_text: str, *, transport=None) -> dict:
        """A recording of the arm's response: openai_compat's trace fields plus ``source``."""
        raise ValueError(f"a {self.name!r} arm cannot be recorded")

    # The DIMENSIONS an adaptive design may vary on an arm of this kind (``with_dimension``).
    varies: ClassVar[tuple[str, ...]] = ()

    def dimension_value(self, profile: dict, dimension: str) -> float | None:
        """The arm's value of a dimension it varies (None when the profile does not fix it)."""
        value = (profile or {}).get(dimension)
        return None if value is None else float(value)

    def with_dimension(self, profile: dict, dimension: str, value: float) -> dict:
        """The profile with one dimension set to ``value``: an adaptive trial's synthetic pane, made
        on the fly from the reference arm. Raises ValueError for a dimension the kind cannot vary."""
        if dimension not in self.varies:
            raise ValueError(f"a {self.name!r} arm cannot vary {dimension!r}")
        return {**(profile or {}), dimension: round(value) if dimension == "thinking_tokens" else float(value)}

    def describe(self, profile: dict) -> dict:
        """The arm's settings as researchers see them (the study page, the API)."""
        return dict(profile or {})

    def export(self, profile: dict) -> dict:
        """The fields a study file writes after ``kind`` (and ``preset``) for this arm."""
        return dict(profile or {})

    def __repr__(self):
        return f"<arm kind {self.name}>"


def tokenizer_for(profile: dict) -> Callable[[str], Any]:
    """The split function an arm asks for: its ``tokenizer`` file (in the operator's tokenizer
    directory, tokenizer_files.py), else the built-in approximation."""
    name = profile.get("tokenizer")
    return tokenizer_files.cached_tokenizer(name, tokenizer_files.current()) if name else split_tokens


def display_tokens(tokens: list[Token], display: str) -> list[Token]:
    """Reduce the thinking phase to what the display mode reveals.

    ``visible`` keeps it; ``hidden`` keeps one empty marker at the first thinking token (the
    browser shows "Thinking…" with the elapsed time, never the count); ``none`` drops it.
    """
    if display == "visible":
        return tokens
    answer = [token for token in tokens if token.phase == ANSWER]
    first_thinking = next((token for token in tokens if token.phase == THINKING), None)
    if display == "hidden" and first_thinking is not None:
        return [Token(first_thinking.due_s, "", THINKING), *answer]
    return answer
