"""The study file's adaptive block (``design.adaptive``): the reference arm, the dimension varied,
its range(s), the procedure and its stopping rules (docs/adaptive.md, docs/study-format.md).

Every number has a range, like the other settings; the cross-checks against the study's arms and
questions (``adaptive_errors``) report problems by path, as the rest of the file does.
"""

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from uxlab.adaptive.procedures import DEFAULTS, PROCEDURES
from uxlab.adaptive.session import AdaptiveSession
from uxlab.streaming import kinds
from uxlab.streaming.kinds.fields import Count, Number, Slug
from uxlab.studies.study_files.errors import tidy_number

MAX_ADAPTIVE_TRIALS = 500
MAX_TRACKS = 8
# Stimulus values of any dimension: tokens/s, seconds, or thinking tokens.
StimulusValue = Annotated[Number, Field(gt=0, le=100_000)]
LogUnits = Annotated[Number, Field(gt=0, le=3)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackSpec(_Spec):
    """One staircase or QUEST+ track: a range of values on one side of the reference."""

    name: Slug
    range: Annotated[list[StimulusValue], Field(min_length=2, max_length=2)]
    start: StimulusValue | None = None

    @model_validator(mode="after")
    def _check_range(self):
        if self.range[0] >= self.range[1]:
            raise PydanticCustomError("adaptive_range", "range must be [low, high] with low < high")
        if self.start is not None and not self.range[0] <= self.start <= self.range[1]:
            raise PydanticCustomError("adaptive_start", "start must be within range")
        return self


class StopSpec(_Spec):
    """When a track stops (any rule met); the session also stops at max_trials."""

    trials_per_track: Annotated[Count, Field(ge=1, le=MAX_ADAPTIVE_TRIALS)] | None = None
    reversals: Annotated[Count, Field(ge=1, le=100)] | None = None
    posterior_sd: Annotated[Number, Field(gt=0, le=2)] | None = None


class StaircaseSpec(_Spec):
    rule: Literal[tuple(("1up2down", "1up3down"))] = DEFAULTS["staircase"]["rule"]
    steps: Annotated[list[LogUnits], Field(min_length=1, max_length=10)] = DEFAULTS["staircase"]["steps"]
    use_reversals: Annotated[Count, Field(ge=2, le=50)] = DEFAULTS["staircase"]["use_reversals"]


class PriorSpec(_Spec):
    """A log-normal prior on the threshold: its centre (in the dimension's units) and SD in log10 units."""

    threshold: StimulusValue
    sd_log10: LogUnits


class QuestPlusSpec(_Spec):
    slopes: Annotated[list[Annotated[Number, Field(gt=0, le=50)]], Field(min_length=1, max_length=20)] = (
        DEFAULTS["quest_plus"]["slopes"])
    lapses: Annotated[list[Annotated[Number, Field(ge=0, le=0.3)]], Field(min_length=1, max_length=10)] = (
        DEFAULTS["quest_plus"]["lapses"])
    guess: Annotated[Number, Field(ge=0, le=0.9)] = DEFAULTS["quest_plus"]["guess"]
    prior: PriorSpec | None = None


class AdaptiveSpec(_Spec):
    """design.adaptive: an adaptive design instead of fixed pairs."""

    reference: Slug
    dimension: Literal[tuple(kinds.DIMENSIONS)]
    question: Slug
    procedure: Literal[tuple(PROCEDURES)]
    range: Annotated[list[StimulusValue], Field(min_length=2, max_length=2)] | None = None
    tracks: Annotated[list[TrackSpec], Field(min_length=1, max_length=MAX_TRACKS)] | None = None
    catch_trials: Annotated[Number, Field(ge=0, le=0.5)] = DEFAULTS["catch_trials"]
    max_trials: Annotated[Count, Field(ge=1, le=MAX_ADAPTIVE_TRIALS)] = DEFAULTS["max_trials"]
    grid: Annotated[Count, Field(ge=5, le=201)] = DEFAULTS["grid"]
    stop: StopSpec = StopSpec()
    staircase: StaircaseSpec | None = None
    quest_plus: QuestPlusSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _range_as_one_track(cls, data):
        # `range: [low, high]` is shorthand for one track named "main".
        if isinstance(data, dict) and "range" in data and "tracks" not in data:
            data = {**data, "tracks": [{"name": "main", "range": data["range"]}]}
            data.pop("range")
        return data

    @model_validator(mode="after")
    def _check_procedure_settings(self):
        if self.tracks is None:
            raise PydanticCustomError("adaptive_tracks", "give range (one track) or tracks")
        if self.range is not None:  # both given: the shorthand left it (_range_as_one_track)
            raise PydanticCustomError("adaptive_tracks", "give range (one track) or tracks, not both")
        names = [track.name for track in self.tracks]
        if len(set(names)) != len(names):
            raise PydanticCustomError("adaptive_tracks", "track names must differ")
        other = "quest_plus" if self.procedure == "staircase" else "staircase"
        if getattr(self, other) is not None:
            raise PydanticCustomError("adaptive_settings", "{other}: not used by procedure '{procedure}'",
                                      {"other": other, "procedure": self.procedure})
        if self.procedure == "quest_plus" and self.stop.reversals is not None:
            raise PydanticCustomError("adaptive_stop", "stop.reversals: used by staircases only")
        if self.procedure == "staircase" and self.stop.posterior_sd is not None:
            raise PydanticCustomError("adaptive_stop", "stop.posterior_sd: used by quest_plus only")
        return self

    @property
    def config(self):
        """What Study.design["adaptive"] stores: the block with its defaults filled in."""
        data = self.model_dump(exclude_none=True)
        data.setdefault(self.procedure, (StaircaseSpec() if self.procedure == "staircase" else QuestPlusSpec())
                        .model_dump(exclude_none=True))
        return data


def adaptive_errors(definition):
    """Cross-checks of design.adaptive against the arms and questions, as ``path: message``."""
    spec = definition.design.adaptive
    if spec is None:
        return []
    path = "design.adaptive"
    errors = []
    arms = {arm.name: arm for arm in definition.arms}
    arm = arms.get(spec.reference)
    reference = None
    if arm is None:
        errors.append(f"{path}.reference: unknown arm '{spec.reference}'")
    else:
        kind = kinds.get(arm.kind)
        if spec.dimension not in kind.varies:
            errors.append(f"{path}.dimension: a {arm.kind} arm cannot vary {spec.dimension}"
                          f" (it can vary: {', '.join(kind.varies) or 'nothing'})")
        else:
            reference = kind.dimension_value(arm.profile, spec.dimension)
            if not reference or reference <= 0:
                errors.append(f"{path}.reference: arm '{spec.reference}' must set {spec.dimension} above 0")
                reference = None
    questions = {question.name: question for question in definition.questions}
    question = questions.get(spec.question)
    if question is None:
        errors.append(f"{path}.question: unknown question '{spec.question}'")
    elif question.kind != "forced_choice" or question.is_per_pane:
        errors.append(f"{path}.question: must be a forced_choice question (which pane was faster)")
    if reference is not None:
        for index, track in enumerate(spec.tracks):
            low, high = track.range
            if low < reference < high:
                errors.append(f"{path}.tracks[{index}].range: must lie on one side of the reference"
                              f" ({tidy_number(reference)}); use two tracks for both sides")
            elif low == high == reference:
                errors.append(f"{path}.tracks[{index}].range: holds nothing but the reference")
        prior = spec.quest_plus.prior if spec.quest_plus else None
        if prior is not None and not any(t.range[0] <= prior.threshold <= t.range[1] for t in spec.tracks):
            errors.append(f"{path}.quest_plus.prior.threshold: must lie within a track's range")
        far = max((abs(math.log10(value / reference)) for t in spec.tracks for value in t.range), default=0)
        if far > 3:
            errors.append(f"{path}.tracks: a range reaches more than 1000 times the reference value")
        elif not errors:
            errors += _prior_width_errors(spec, reference, path)
    return errors


def _prior_width_errors(spec, reference, path):
    """stop.posterior_sd already met by the prior alone: the rule would stop a track after its first
    answer whatever it was (a track needs one answer before the rule applies, procedures.py)."""
    width = spec.stop.posterior_sd
    if spec.procedure != "quest_plus" or width is None:
        return []
    session = AdaptiveSession(spec.config, reference)
    for name, procedure in session.tracks.items():
        prior_sd = procedure.summary(procedure.start())["sd_log10"]
        if prior_sd <= width:
            return [f"{path}.stop.posterior_sd: the prior alone is this narrow on track '{name}' (SD"
                    f" {prior_sd:.3g} log10 units); lower it or widen the prior"]
    return []
