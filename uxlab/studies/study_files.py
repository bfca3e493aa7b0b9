"""Study-as-code: the YAML study file, its validation, and import into / export from the database.

A file is checked in full before anything is written, and every problem is reported as
``path: message`` (``arms[1].tokens_per_second: must be > 0``) so a researcher can fix them all at once.
See docs/study-format.md for the format.
"""

import re
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from pydantic import (
    AfterValidator,
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

from uxlab.streaming.arms import ARM_KINDS, LIVE_FIELDS, RETIME_FIELDS
from uxlab.streaming.presets import PRESETS
from uxlab.streaming.profiles import JITTERS, THINKING_DISPLAYS, SyntheticProfile
from uxlab.streaming.tokens import load_tokenizer
from uxlab.streaming.traces import BUILTIN_CADENCES
from uxlab.studies.design import ANSWERING, INTERRUPTED_TRIAL_POLICIES, LAYOUTS, ORDERS
from uxlab.studies.models import Arm, Prompt, Question, Study

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


class StudyFileError(Exception):
    """A study file (or import) that cannot be used; ``errors`` holds every problem as ``path: message``."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


# --- Field types -------------------------------------------------------------------------------


def _none_as_empty(value):
    return "" if value is None else value


def _numbers_as_text(value):
    # `version: 1` or `code: 2024` are meant as text; YAML reads them as numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


_url_validator = URLValidator(schemes=["http", "https"])


def _http_url(value):
    if value:
        try:
            _url_validator(value)
        except DjangoValidationError:
            raise PydanticCustomError("url", "must be an http(s) URL") from None
    return value


def _text(max_length=None):
    """Required text, stripped at both ends."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)]


def _optional_text(max_length=None):
    """Text that may be left out or empty (a bare `key:` in YAML counts as empty)."""
    return Annotated[
        str, BeforeValidator(_none_as_empty), StringConstraints(strip_whitespace=True, max_length=max_length)
    ]


SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"  # the same as Django's SlugField


def _code(min_length, max_length, pattern=SLUG_PATTERN, strip=False):
    """Short text such as a code or a version, where a bare number in the YAML is meant as text."""
    constraints = StringConstraints(
        strip_whitespace=strip, min_length=min_length, max_length=max_length, pattern=pattern
    )
    return Annotated[str, BeforeValidator(_numbers_as_text), constraints]


Slug = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=SLUG_PATTERN)]
StudyCode = _code(3, 40)
CompletionCode = _code(1, 40)
ConsentVersion = _code(1, 40, pattern=None, strip=True)
Seed = _code(1, 64, pattern=None, strip=True)
HttpUrl = Annotated[_optional_text(200), AfterValidator(_http_url)]

# Numbers are strict: `ttft_s: "0.2"` or `chunk_tokens: 1.5` is an error, not a silent conversion.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Count = Annotated[int, Strict()]


# --- Cross-references ---------------------------------------------------------------------------
# Duplicate names and pairs naming unknown arms are checked item by item against the names found in
# the raw data, passed as validation context, so each problem is reported at its own path and
# independently of mistakes elsewhere in the file.

_REFERENCES = "study_file_references"


@dataclass(frozen=True)
class _References:
    arm_names: frozenset | None  # None when `arms` is not a list: then pairs are not checked
    name_counts: dict

    @classmethod
    def of(cls, data):
        def items(key):
            value = data.get(key) if isinstance(data, dict) else None
            return value if isinstance(value, list) else None

        def names(key):
            named = (item for item in items(key) or [] if isinstance(item, dict))
            return [item["name"] for item in named if isinstance(item.get("name"), str)]

        counts = {key: Counter(names(key)) for key in ("arms", "prompts", "questions")}
        arm_names = frozenset(names("arms")) if items("arms") is not None else None
        return cls(arm_names=arm_names, name_counts=counts)


def _references(info):
    context = info.context
    return context.get(_REFERENCES) if isinstance(context, dict) else None


def _unique_in(list_name):
    def check(name, info: ValidationInfo):
        references = _references(info)
        if references is not None and references.name_counts[list_name][name] > 1:
            raise PydanticCustomError("duplicate_name", "duplicate name '{name}'", {"name": name})
        return name

    return check


def _known_arm(name, info: ValidationInfo):
    references = _references(info)
    if references is not None and references.arm_names is not None and name not in references.arm_names:
        raise PydanticCustomError("unknown_arm", "unknown arm '{name}'", {"name": name})
    return name


def _two_items(value):
    if isinstance(value, list | tuple) and len(value) != 2:
        raise PydanticCustomError("pair_length", "must name exactly 2 arms")
    return value


def _different_arms(pair):
    if pair[0] == pair[1]:
        raise PydanticCustomError("same_arm", "must name two different arms")
    return pair


ArmName = Annotated[Slug, AfterValidator(_unique_in("arms"))]
PromptName = Annotated[Slug, AfterValidator(_unique_in("prompts"))]
QuestionName = Annotated[Slug, AfterValidator(_unique_in("questions"))]
ArmRef = Annotated[Slug, AfterValidator(_known_arm)]
Pair = Annotated[list[ArmRef], BeforeValidator(_two_items), AfterValidator(_different_arms)]


# --- The file's models ---------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentSpec(_Spec):
    version: ConsentVersion = "1"
    text: _text()


class CompletionSpec(_Spec):
    code: CompletionCode | None = None
    url: HttpUrl = ""


def _preset_defaults(fields):
    """Fill the arm's unset ``fields`` (and label, source) from its named preset, before validation.

    Explicit fields win. An unknown preset name is left for the ``preset`` field to report.
    """

    def apply(data):
        if isinstance(data, dict) and isinstance(data.get("preset"), str) and data["preset"] in PRESETS:
            preset = PRESETS[data["preset"]]
            data = dict(data)
            for key, value in preset.profile.items():
                if key in fields:
                    data.setdefault(key, value)
            data.setdefault("label", preset.label)
            data.setdefault("source", preset.citation)
        return data

    return apply


def _loadable_tokenizer(path):
    if path:
        try:
            load_tokenizer(path)
        except (ValueError, OSError) as exc:
            raise PydanticCustomError("tokenizer", "{error}", {"error": str(exc)}) from None
    return path


PresetName = Literal[tuple(PRESETS)]
TokenizerPath = Annotated[_optional_text(500), AfterValidator(_loadable_tokenizer)]
def _env_name(value):
    # The value is never echoed: a researcher may have pasted the key itself here by mistake.
    if not re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]{0,99})?", value):
        raise PydanticCustomError("env_name", "must be the name of an environment variable (letters, digits, '_')")
    return value


EnvName = Annotated[_optional_text(100), AfterValidator(_env_name)]
RequiredHttpUrl = Annotated[_text(200), AfterValidator(_http_url)]


class ArmSpec(_Spec):
    """A synthetic arm; its fields after ``kind`` are the synthetic profile (see SyntheticProfile).

    ``preset`` names a preset of streaming/presets.py whose values fill the fields left out.
    """

    name: ArmName
    label: _optional_text(200) = ""
    source: _optional_text(300) = ""
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

    _fill_from_preset = model_validator(mode="before")(_preset_defaults(PROFILE_FIELDS))

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
    label: _optional_text(200) = ""
    source: _optional_text(300) = ""
    kind: Literal["live"]
    base_url: RequiredHttpUrl
    model: _text(200)
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
    label: _optional_text(200) = ""
    source: _optional_text(300) = ""
    kind: Literal["trace"]
    preset: PresetName | None = None
    builtin: Literal[tuple(BUILTIN_CADENCES)] | None = None
    recorded_arm: Slug | None = None
    tokens_per_second: Annotated[Number, Field(gt=0)] | None = None
    ttft_s: Annotated[Number, Field(ge=0)] | None = None
    speed_factor: Annotated[Number, Field(gt=0)] | None = None
    thinking_display: Literal[THINKING_DISPLAYS] = "hidden"
    tokenizer: TokenizerPath = ""

    _fill_from_preset = model_validator(mode="before")(_preset_defaults(("tokens_per_second", "ttft_s")))

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
    text: _text()
    response: _text()
    reasoning: _optional_text() = ""


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
    text: _text(500)
    per_pane: Annotated[bool, Strict()] | None = None
    scale: Annotated[Count, Field(ge=2, le=11)] | None = None
    low_label: _optional_text(60) | None = None
    high_label: _optional_text(60) | None = None
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

    text: _text()
    response: _text()
    reasoning: _optional_text() = ""


class AttentionCheckSpec(_Spec):
    """An instructed-response trial: the response tells the participant which answer to give."""

    name: PromptName
    text: _text()
    response: _text()
    question: Slug
    expected: Annotated[str, BeforeValidator(_numbers_as_text), StringConstraints(min_length=1, max_length=200)]
    after_trial: Annotated[Count, Field(ge=0)] | None = None


ParticipantParam = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]


class DesignSpec(_Spec):
    pairs: Annotated[list[Pair], Field(min_length=1)]
    seed: Seed | None = None
    # How synthetic and trace arms reach the screen (docs/protocol.md): presented on the browser's
    # frame clock from a schedule sent ahead (controlled), or painted on arrival (server_paced).
    delivery: Literal["controlled", "server_paced"] = "controlled"
    # The participant session (studies/design.py holds the same defaults; docs/study-format.md).
    order: Literal[ORDERS] = "latin_square"
    trials_per_participant: Annotated[Count, Field(ge=1)] | None = None
    quota_per_cell: Annotated[Count, Field(ge=1)] | None = None
    layout: Literal[LAYOUTS] = "side_by_side"
    sequential_gap_s: Annotated[Number, Field(ge=0, le=60)] = 1.0
    allow_stacked: Annotated[bool, Strict()] = True
    min_viewport_width: Annotated[Count, Field(ge=200, le=10_000)] = 900
    min_viewport_height: Annotated[Count, Field(ge=200, le=10_000)] = 500
    answering: Literal[ANSWERING] = "after_both"
    min_exposure_s: Annotated[Number, Field(ge=0, le=3600)] = 0.0
    interrupted_trial: Literal[INTERRUPTED_TRIAL_POLICIES] = "restart"
    time_limit_minutes: Annotated[Number, Field(gt=0)] = 60.0
    abandon_after_minutes: Annotated[Number, Field(gt=0)] = 30.0
    participant_param: ParticipantParam | None = None
    save_timeout_s: Annotated[Number, Field(ge=1, le=600)] = 60.0


class StudyDefinition(_Spec):
    """A whole study file. Build it with ``parse_study_yaml`` or ``validate_study_data``."""

    version: Literal[FORMAT_VERSION]
    code: StudyCode | None = None
    title: _text(200)
    description: _optional_text() = ""
    consent: ConsentSpec
    instructions: _optional_text() = ""
    completion: CompletionSpec = CompletionSpec()
    arms: Annotated[list[AnyArmSpec], Field(min_length=2)]
    prompts: Annotated[list[PromptSpec], Field(min_length=1)]
    questions: Annotated[list[QuestionSpec], Field(min_length=1)]
    practice: PracticeSpec | None = None
    attention_checks: list[AttentionCheckSpec] = []
    design: DesignSpec

    @model_validator(mode="after")
    def _check_references_when_built_in_code(self, info: ValidationInfo):
        if _references(info) is None:
            # Not built through validate_study_data, so names were not cross-checked: do it now.
            try:
                validate_study_data(self.model_dump())
            except StudyFileError as exc:
                raise PydanticCustomError("invalid_study", "{errors}", {"errors": "; ".join(exc.errors)}) from None
        return self


# --- Parsing and error messages ------------------------------------------------------------------


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
            [f"(top level): must be a mapping of study fields (version, title, arms, ...), not {_kind_of(data)}"]
        )
    try:
        definition = StudyDefinition.model_validate(data, context={_REFERENCES: _References.of(data)})
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


def format_validation_errors(exc: ValidationError) -> list[str]:
    """Pydantic's errors as ``path: message`` lines in plain words."""
    return [f"{_format_path(_arm_loc(error))}: {_message(error)}" for error in exc.errors()]


def _arm_loc(error):
    """An arm's path without the kind pydantic inserts (``arms[0].synthetic.ttft_s``); a bad kind at ``.kind``."""
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "arms" and isinstance(loc[1], int):
        if error["type"] in ("union_tag_invalid", "union_tag_not_found") and len(loc) == 2:
            return (*loc, "kind")
        if len(loc) >= 3 and loc[2] in ARM_KINDS:
            del loc[2]
    return tuple(loc)


def _format_path(loc):
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _items(n, word="item"):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_TYPE_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "string_type": "must be text",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "string_pattern_mismatch": "must contain only letters, digits, '-' and '_'",
}


def _message(error):
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind == "greater_than":
        return f"must be > {_tidy_number(ctx['gt'])}"
    if kind == "greater_than_equal":
        return f"must be >= {_tidy_number(ctx['ge'])}"
    if kind == "less_than":
        return f"must be < {_tidy_number(ctx['lt'])}"
    if kind == "less_than_equal":
        return f"must be <= {_tidy_number(ctx['le'])}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"must be one of: {', '.join(ARM_KINDS)}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", ctx["expected"]) or re.split(r",\s*|\s+or\s+", ctx["expected"])
        return f"must be {choices[0]}" if len(choices) == 1 else f"must be one of: {', '.join(choices)}"
    # Text reports too_short / too_long instead of string_too_* when a BeforeValidator precedes its limits.
    is_text = isinstance(error.get("input"), str)
    if kind == "string_too_short" or (kind == "too_short" and is_text):
        return "must not be empty" if ctx["min_length"] == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long" or (kind == "too_long" and is_text):
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_short":
        return f"at least {_items(ctx['min_length'])} required"
    if kind == "too_long":
        return f"at most {_items(ctx['max_length'])} allowed"
    return error["msg"]  # our own PydanticCustomErrors already read well


def _kind_of(value):
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a single piece of text"
    return f"a {type(value).__name__}"


# --- Import --------------------------------------------------------------------------------------


def import_study(definition: StudyDefinition, *, team, status=Study.Status.DRAFT, replace=False) -> Study:
    """Create the study a definition describes (or, with replace, redefine it) in one transaction.

    Replacing keeps the study row but recreates its arms, prompts and questions, so it is refused
    once the study has participants: their trials and ratings refer to the old ones.
    """
    status = Study.Status(status)
    try:
        with transaction.atomic():
            return _write_study(definition, team=team, status=status, replace=replace)
    except IntegrityError:
        # Another import took the code between our check and our insert.
        if definition.code and Study.objects.filter(code=definition.code).exists():
            raise StudyFileError([f"code: a study with code '{definition.code}' already exists"]) from None
        raise


def _write_study(definition, *, team, status, replace):
    code = definition.code
    study = Study.objects.select_for_update().filter(code=code).first() if code else None
    if study is None:
        study = Study(team=team)
        if code:
            study.code = code
    else:
        if not replace:
            raise StudyFileError([f"code: a study with code '{code}' already exists"])
        if study.team_id != team.pk:
            raise StudyFileError(
                [f"code: study '{code}' belongs to another team; it cannot be replaced from team '{team.slug}'"]
            )
        if study.participants.exists():
            raise StudyFileError([f"code: study '{code}' already has participants; it cannot be replaced"])
        study.questions.all().delete()
        study.prompts.all().delete()
        study.arms.all().delete()

    study.title = definition.title
    study.description = definition.description
    study.status = status
    study.consent_version = definition.consent.version
    study.consent_text = definition.consent.text
    study.instructions = definition.instructions
    if definition.completion.code:
        study.completion_code = definition.completion.code
    study.completion_url = definition.completion.url
    study.design = {"pairs": [list(pair) for pair in definition.design.pairs], "seed": definition.design.seed}
    study.design["delivery"] = definition.design.delivery
    study.design.update(definition.design.model_dump(exclude={"pairs", "seed", "delivery"}))
    study.design["attention_checks"] = [
        {"prompt": check.name, "question": check.question, "expected": check.expected, "after_trial": check.after_trial}
        for check in definition.attention_checks
    ]
    study.save()

    Arm.objects.bulk_create(
        Arm(
            study=study,
            name=arm.name,
            label=arm.label,
            source=arm.source,
            kind=arm.kind,
            preset=arm.preset or "",
            profile=arm.profile,
            position=position,
        )
        for position, arm in enumerate(definition.arms)
    )
    Prompt.objects.bulk_create(
        Prompt(
            study=study,
            name=prompt.name,
            text=prompt.text,
            response=prompt.response,
            reasoning=prompt.reasoning,
            position=position,
        )
        for position, prompt in enumerate(definition.prompts)
    )
    extra_prompts = [
        Prompt(study=study, name=check.name, text=check.text, response=check.response, role="attention")
        for check in definition.attention_checks
    ]
    if definition.practice is not None:
        practice = definition.practice
        extra_prompts.append(
            Prompt(
                study=study,
                name=PRACTICE_PROMPT_NAME,
                text=practice.text,
                response=practice.response,
                reasoning=practice.reasoning,
                role="practice",
            )
        )
    for position, prompt in enumerate(extra_prompts, start=len(definition.prompts)):
        prompt.position = position
    Prompt.objects.bulk_create(extra_prompts)
    questions = [question for spec in definition.questions for question in spec.stored_questions()]
    for position, question in enumerate(questions):
        question.study = study
        question.position = position
    Question.objects.bulk_create(questions)
    return study


# --- Export --------------------------------------------------------------------------------------


def profile_from_arm(arm: Arm) -> dict:
    """The arm's profile with every field present: stored values over SyntheticProfile's defaults.

    Keys that are not profile fields are kept (after the known ones), so an export shows them
    rather than silently dropping them.
    """
    stored = arm.profile or {}
    profile = {name: stored.get(name, getattr(_DEFAULT_PROFILE, name)) for name in PROFILE_FIELDS}
    profile.update((key, value) for key, value in stored.items() if key not in profile)
    return profile


def export_study(study: Study) -> str:
    """The study as a version-1 YAML file that imports back to the same definition."""
    header = f"# uxlab study file, version {FORMAT_VERSION}; the format is described in docs/study-format.md\n"
    return header + yaml.dump(
        _study_data(study),
        Dumper=_StudyDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def _study_data(study):
    data = {"version": FORMAT_VERSION, "code": study.code, "title": study.title}
    if study.description:
        data["description"] = study.description
    data["consent"] = {"version": study.consent_version, "text": study.consent_text}
    if study.instructions:
        data["instructions"] = study.instructions
    data["completion"] = {"code": study.completion_code}
    if study.completion_url:
        data["completion"]["url"] = study.completion_url
    data["arms"] = [_arm_data(arm) for arm in study.arms.all()]
    prompts = list(study.prompts.all())
    data["prompts"] = [_prompt_data(prompt) for prompt in prompts if prompt.role == "trial"]
    data["questions"] = [
        {"name": question.base_name, "kind": question.kind, "text": question.text, **(question.options or {})}
        for question in study.questions.all()
        if question.pane != "B"
    ]
    practice = [prompt for prompt in prompts if prompt.role == "practice"]
    if practice:
        data["practice"] = {key: value for key, value in _prompt_data(practice[0]).items() if key != "name"}
    design = dict(study.design or {})
    checks = design.pop("attention_checks", None) or []
    attention_prompts = {prompt.name: prompt for prompt in prompts if prompt.role == "attention"}
    if checks:
        data["attention_checks"] = [
            {
                "name": check["prompt"],
                "text": attention_prompts[check["prompt"]].text,
                "response": attention_prompts[check["prompt"]].response,
                "question": check["question"],
                "expected": check["expected"],
                **({"after_trial": check["after_trial"]} if check.get("after_trial") is not None else {}),
            }
            for check in checks
        ]
    data["design"] = {"pairs": [_FlowList(pair) for pair in design.pop("pairs", [])]}
    seed = design.pop("seed", None)
    if seed is not None:
        data["design"]["seed"] = seed
    # Anything unexpected shows up, and fails on re-import; unset optional settings are left out.
    data["design"].update((key, value) for key, value in design.items() if value is not None)
    return data


def _arm_data(arm):
    data = {"name": arm.name}
    if arm.label:
        data["label"] = arm.label
    if arm.source:
        data["source"] = arm.source
    data["kind"] = arm.kind
    if arm.preset:
        # The resolved values follow, so the file re-imports the same even if the preset changes.
        data["preset"] = arm.preset
    profile = profile_from_arm(arm) if arm.kind == Arm.Kind.SYNTHETIC else dict(arm.profile or {})
    data.update((key, _tidy_number(value)) for key, value in profile.items())
    return data


def _prompt_data(prompt):
    data = {"name": prompt.name, "text": prompt.text, "response": prompt.response}
    if prompt.reasoning:
        data["reasoning"] = prompt.reasoning
    return data


def _tidy_number(value):
    """1800.0 reads better as 1800; both load back as the same float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _FlowList(list):
    """A list written inline, as in ``[wafer_scale_8b, loaded_gpu_cloud]``."""


class _StudyDumper(yaml.SafeDumper):
    """The safe dumper, with list items indented under their key and multi-line text as `|` blocks."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _represent_str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow_list(dumper, value):
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_StudyDumper.add_representer(str, _represent_str)
_StudyDumper.add_representer(_FlowList, _represent_flow_list)
