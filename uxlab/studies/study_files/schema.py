"""The study file's models: one pydantic model per section, ``StudyDefinition`` for the whole file.

``parse_study_yaml`` and ``validate_study_data`` build a definition, checking the file in full
before anything is written and reporting every problem as ``path: message`` (errors.py).
"""

from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from uxlab.streaming.arms import LIVE_FIELDS, RETIME_FIELDS
from uxlab.streaming.profiles import JITTERS, THINKING_DISPLAYS, SyntheticProfile
from uxlab.streaming.traces import BUILTIN_CADENCES
from uxlab.studies.design import ANSWERING, DELIVERIES, INTERRUPTED_TRIAL_POLICIES, LAYOUTS, ORDERS, SessionDesign
from uxlab.studies.models import Question
from uxlab.studies.study_files.errors import StudyFileError, format_validation_errors, type_in_words
from uxlab.studies.study_files.fields import (
    REFERENCES,
    ArmName,
    CompletionCode,
    ConsentVersion,
    Count,
    EnvName,
    HttpUrl,
    Number,
    Pair,
    PresetName,
    PromptName,
    QuestionName,
    References,
    RequiredHttpUrl,
    Seed,
    Slug,
    StudyCode,
    TokenizerPath,
    numbers_as_text,
    optional_text,
    preset_defaults,
    references_of,
    required_text,
)

FORMAT_VERSION = 1

# The arm fields that make up Arm.profile, in SyntheticProfile's order.
PROFILE_FIELDS = (
    "ttft_s",
    "tokens_per_second",
    "jitter",
    "jitter_cv",
    "stall_probability",
    "stall_s",
    "chunk_tokens",
    "thinking_tokens",
    "thinking_tokens_per_second",
    "thinking_display",
)

_DEFAULT_PROFILE = SyntheticProfile()
_SESSION = SessionDesign()




class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentSpec(_Spec):
    version: ConsentVersion = "1"
    text: required_text()


class CompletionSpec(_Spec):
    code: CompletionCode | None = None
    url: HttpUrl = ""


class ArmSpec(_Spec):
    """A synthetic arm; its fields after ``kind`` are the synthetic profile (see SyntheticProfile).

    ``preset`` names a preset of streaming/presets.py whose values fill the fields left out.
    """

    name: ArmName
    label: optional_text(200) = ""
    source: optional_text(300) = ""
    kind: Literal["synthetic"] = "synthetic"
    preset: PresetName | None = None
    ttft_s: Annotated[Number, Field(ge=0)] = _DEFAULT_PROFILE.ttft_s
    tokens_per_second: Annotated[Number, Field(gt=0)] = _DEFAULT_PROFILE.tokens_per_second
    jitter: Literal[JITTERS] = _DEFAULT_PROFILE.jitter
    jitter_cv: Annotated[Number, Field(ge=0, le=3)] = _DEFAULT_PROFILE.jitter_cv
    stall_probability: Annotated[Number, Field(ge=0, le=1)] = _DEFAULT_PROFILE.stall_probability
    stall_s: Annotated[Number, Field(ge=0)] = _DEFAULT_PROFILE.stall_s
    chunk_tokens: Annotated[Count, Field(ge=1)] = _DEFAULT_PROFILE.chunk_tokens
    thinking_tokens: Annotated[Count, Field(ge=0)] = _DEFAULT_PROFILE.thinking_tokens
    thinking_tokens_per_second: Annotated[Number, Field(ge=0)] = _DEFAULT_PROFILE.thinking_tokens_per_second
    thinking_display: Literal[THINKING_DISPLAYS] = _DEFAULT_PROFILE.thinking_display
    tokenizer: TokenizerPath = ""

    _fill_from_preset = model_validator(mode="before")(preset_defaults(PROFILE_FIELDS))

    @property
    def profile(self):
        """The profile fields as stored in Arm.profile (plus ``tokenizer`` when one is named)."""
        profile = self.model_dump(include=set(PROFILE_FIELDS))
        if self.tokenizer:
            profile["tokenizer"] = self.tokenizer
        return profile


class LiveArmSpec(_Spec):
    """An OpenAI-compatible backend streamed live; the key is read from ``api_key_env`` at call time."""

    name: ArmName
    label: optional_text(200) = ""
    source: optional_text(300) = ""
    kind: Literal["live"]
    base_url: RequiredHttpUrl
    model: required_text(200)
    api_key_env: EnvName = ""
    max_tokens: Annotated[Count, Field(ge=1, le=1_000_000)] = 1024
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
    connect_timeout_s: Annotated[Number, Field(gt=0, le=600)] = 10.0
    first_chunk_timeout_s: Annotated[Number, Field(gt=0, le=3600)] = 300.0
    inter_chunk_timeout_s: Annotated[Number, Field(gt=0, le=3600)] = 60.0
    thinking_display: Literal[THINKING_DISPLAYS] = "hidden"

    @property
    def preset(self):
        return None

    @property
    def profile(self):
        return self.model_dump(include=set(LIVE_FIELDS) | {"thinking_display"}, exclude_none=True)


class TraceArmSpec(_Spec):
    """A recorded response replayed exactly or re-timed: a shipped cadence, or a live arm's recording."""

    name: ArmName
    label: optional_text(200) = ""
    source: optional_text(300) = ""
    kind: Literal["trace"]
    preset: PresetName | None = None
    builtin: Literal[tuple(BUILTIN_CADENCES)] | None = None
    recorded_arm: Slug | None = None
    tokens_per_second: Annotated[Number, Field(gt=0)] | None = None
    ttft_s: Annotated[Number, Field(ge=0)] | None = None
    speed_factor: Annotated[Number, Field(gt=0)] | None = None
    thinking_display: Literal[THINKING_DISPLAYS] = "hidden"
    tokenizer: TokenizerPath = ""

    _fill_from_preset = model_validator(mode="before")(preset_defaults(("tokens_per_second", "ttft_s")))

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


def _arm_kind(value):
    kind = value.get("kind", "synthetic") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


AnyArmSpec = Annotated[
    Annotated[ArmSpec, Tag("synthetic")] | Annotated[LiveArmSpec, Tag("live")] | Annotated[TraceArmSpec, Tag("trace")],
    Discriminator(_arm_kind),
]


class PromptSpec(_Spec):
    name: PromptName
    text: required_text()
    response: required_text()
    reasoning: optional_text() = ""


QUESTION_OPTIONS = {
    # kind -> the options it takes (beyond name, kind, text); per_pane only where a pane is rated.
    "forced_choice": (),
    "forced_choice_tie": (),
    "preference": (),
    "likert": ("per_pane", "scale", "low_label", "high_label"),
    "slider": ("per_pane", "min", "max", "step", "low_label", "high_label"),
    "wait_estimate": ("per_pane", "max_seconds"),
    "free_text": ("max_length", "required"),
}
PER_PANE_BY_DEFAULT = ("likert", "wait_estimate")


class QuestionSpec(_Spec):
    """A question; the kind-specific options are listed in QUESTION_OPTIONS (docs/study-format.md)."""

    name: Annotated[QuestionName, StringConstraints(max_length=58)]
    kind: Literal[tuple(Question.Kind.values)] = Question.Kind.FORCED_CHOICE_TIE.value
    text: required_text(500)
    per_pane: Annotated[bool, Strict()] | None = None
    scale: Annotated[Count, Field(ge=2, le=11)] | None = None
    low_label: optional_text(60) | None = None
    high_label: optional_text(60) | None = None
    min: Number | None = None
    max: Number | None = None
    step: Annotated[Number, Field(gt=0)] | None = None
    max_seconds: Annotated[Number, Field(gt=0, le=86_400)] | None = None
    max_length: Annotated[Count, Field(ge=1, le=200)] | None = None
    required: Annotated[bool, Strict()] | None = None

    @model_validator(mode="after")
    def _check_options_fit_the_kind(self):
        allowed = QUESTION_OPTIONS[self.kind]
        unused = [name for name in self.options_set() if name not in allowed]
        if unused:
            raise PydanticCustomError(
                "option_not_used",
                "{names}: not used by kind '{kind}'",
                {"names": ", ".join(unused), "kind": self.kind},
            )
        if self.kind == "slider" and self.slider_range[0] >= self.slider_range[1]:
            raise PydanticCustomError("slider_range", "min must be less than max")
        return self

    def options_set(self):
        """The options written in the file (the model fills in the rest from its defaults)."""
        return {
            name: value
            for name, value in self.model_dump(exclude_unset=True, exclude={"name", "kind", "text"}).items()
            if value is not None
        }

    @property
    def slider_range(self):
        defaults = Question.DEFAULT_OPTIONS[Question.Kind.SLIDER]
        return (
            defaults["min"] if self.min is None else self.min,
            defaults["max"] if self.max is None else self.max,
        )

    @property
    def is_per_pane(self):
        return self.per_pane if self.per_pane is not None else self.kind in PER_PANE_BY_DEFAULT

    def stored_questions(self):
        """The Question rows this spec becomes: one, or one per pane (``name_A``, ``name_B``)."""
        options = self.options_set()
        panes = ("A", "B") if self.is_per_pane else ("",)
        return [
            Question(
                name=f"{self.name}_{pane}" if pane else self.name,
                kind=self.kind,
                text=self.text,
                pane=pane,
                options=options,
            )
            for pane in panes
        ]


class PracticeSpec(_Spec):
    """An optional practice trial before the real ones; flagged and left out of analysis."""

    text: required_text()
    response: required_text()
    reasoning: optional_text() = ""


class AttentionCheckSpec(_Spec):
    """An instructed-response trial: the response tells the participant which answer to give."""

    name: PromptName
    text: required_text()
    response: required_text()
    question: Slug
    expected: Annotated[str, BeforeValidator(numbers_as_text), StringConstraints(min_length=1, max_length=200)]
    after_trial: Annotated[Count, Field(ge=0)] | None = None


ParticipantParam = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]


class DesignSpec(_Spec):
    """The design section; every setting's default is SessionDesign's (studies/design.py)."""

    pairs: Annotated[list[Pair], Field(min_length=1)]
    seed: Seed | None = None
    # How synthetic and trace arms reach the screen (docs/protocol.md): presented on the browser's
    # frame clock from a schedule sent ahead (controlled), or painted on arrival (server_paced).
    delivery: Literal[DELIVERIES] = _SESSION.delivery
    # The participant session (docs/study-format.md).
    order: Literal[ORDERS] = _SESSION.order
    trials_per_participant: Annotated[Count, Field(ge=1)] | None = _SESSION.trials_per_participant
    quota_per_cell: Annotated[Count, Field(ge=1)] | None = _SESSION.quota_per_cell
    layout: Literal[LAYOUTS] = _SESSION.layout
    sequential_gap_s: Annotated[Number, Field(ge=0, le=60)] = _SESSION.sequential_gap_s
    allow_stacked: Annotated[bool, Strict()] = _SESSION.allow_stacked
    min_viewport_width: Annotated[Count, Field(ge=200, le=10_000)] = _SESSION.min_viewport_width
    min_viewport_height: Annotated[Count, Field(ge=200, le=10_000)] = _SESSION.min_viewport_height
    answering: Literal[ANSWERING] = _SESSION.answering
    min_exposure_s: Annotated[Number, Field(ge=0, le=3600)] = _SESSION.min_exposure_s
    interrupted_trial: Literal[INTERRUPTED_TRIAL_POLICIES] = _SESSION.interrupted_trial
    time_limit_minutes: Annotated[Number, Field(gt=0)] = _SESSION.time_limit_minutes
    abandon_after_minutes: Annotated[Number, Field(gt=0)] = _SESSION.abandon_after_minutes
    participant_param: ParticipantParam | None = _SESSION.participant_param
    save_timeout_s: Annotated[Number, Field(ge=1, le=600)] = _SESSION.save_timeout_s


class StudyDefinition(_Spec):
    """A whole study file. Build it with ``parse_study_yaml`` or ``validate_study_data``."""

    version: Literal[FORMAT_VERSION]
    code: StudyCode | None = None
    title: required_text(200)
    description: optional_text() = ""
    consent: ConsentSpec
    instructions: optional_text() = ""
    completion: CompletionSpec = CompletionSpec()
    arms: Annotated[list[AnyArmSpec], Field(min_length=2)]
    prompts: Annotated[list[PromptSpec], Field(min_length=1)]
    questions: Annotated[list[QuestionSpec], Field(min_length=1)]
    practice: PracticeSpec | None = None
    attention_checks: list[AttentionCheckSpec] = []
    design: DesignSpec

    @model_validator(mode="after")
    def _check_references_when_built_in_code(self, info: ValidationInfo):
        if references_of(info) is None:
            # Not built through validate_study_data, so names were not cross-checked: do it now.
            try:
                validate_study_data(self.model_dump())
            except StudyFileError as exc:
                raise PydanticCustomError("invalid_study", "{errors}", {"errors": "; ".join(exc.errors)}) from None
        return self


# --- Parsing -------------------------------------------------------------------------------------


class _StudyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a repeated key is an error instead of silently winning."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def parse_study_yaml(text: str) -> StudyDefinition:
    """The study defined by a YAML document; raises StudyFileError listing every problem."""
    try:
        data = yaml.load(text, Loader=_StudyLoader)  # noqa: S506 - _StudyLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(top level)"
        raise StudyFileError([f"{where}: not valid YAML: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise StudyFileError([f"(top level): not valid YAML: {exc}"]) from None
    return validate_study_data(data)


def validate_study_data(data: Any) -> StudyDefinition:
    """The study defined by already-loaded data (a dict); raises StudyFileError listing every problem."""
    if data is None:
        raise StudyFileError(["(top level): the file is empty"])
    if not isinstance(data, dict):
        raise StudyFileError(
            [f"(top level): must be a mapping of study fields (version, title, arms, ...), not {type_in_words(data)}"]
        )
    try:
        definition = StudyDefinition.model_validate(data, context={REFERENCES: References.of(data)})
    except ValidationError as exc:
        raise StudyFileError(format_validation_errors(exc)) from None
    errors = _session_errors(definition) + _arm_errors(definition)
    if errors:
        raise StudyFileError(errors)
    return definition


def _arm_errors(definition):
    """A trace arm's ``recorded_arm`` must name a live arm of the same study."""
    kinds = {arm.name: arm.kind for arm in definition.arms}
    return [
        f"arms[{index}].recorded_arm: '{arm.recorded_arm}' is not a live arm of this study"
        for index, arm in enumerate(definition.arms)
        if arm.kind == "trace" and arm.recorded_arm is not None and kinds.get(arm.recorded_arm) != "live"
    ]


PRACTICE_PROMPT_NAME = "practice"


def _session_errors(definition):
    """Cross-checks of the session parts: generated names, attention checks' questions and answers."""
    errors = []
    stored = {}
    for index, spec in enumerate(definition.questions):
        for question in spec.stored_questions():
            if question.name in stored and stored[question.name] != index:
                errors.append(f"questions[{index}].name: '{question.name}' is already used by another question")
            stored[question.name] = index
    prompt_names = {prompt.name for prompt in definition.prompts}
    if definition.practice is not None and PRACTICE_PROMPT_NAME in prompt_names:
        errors.append(f"practice: a prompt is already named '{PRACTICE_PROMPT_NAME}'; rename it")
    questions = {question.name: question for spec in definition.questions for question in spec.stored_questions()}
    for index, check in enumerate(definition.attention_checks):
        path = f"attention_checks[{index}]"
        if check.name in prompt_names or check.name == PRACTICE_PROMPT_NAME:
            errors.append(f"{path}.name: '{check.name}' is already a prompt name")
        prompt_names = prompt_names | {check.name} if check.name not in prompt_names else prompt_names
        question = questions.get(check.question)
        if question is None:
            errors.append(f"{path}.question: unknown question '{check.question}'")
            continue
        if not question.required:
            errors.append(f"{path}.question: must be a question that has to be answered")
            continue
        try:
            question.clean_value(check.expected)
        except ValueError as error:
            errors.append(f"{path}.expected: {str(error)[0].lower()}{str(error)[1:].rstrip('.')}")
    return errors
