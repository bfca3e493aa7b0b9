"""The study file's models: one pydantic model per section, ``StudyDefinition`` for the whole file.

``parse_study_yaml`` and ``validate_study_data`` build a definition, checking the file in full
before anything is written and reporting every problem as ``path: message`` (errors.py).
"""

import functools
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from uxlab.streaming import kinds
from uxlab.streaming.kinds.fields import Count, HttpUrl, Number, Slug, optional_text, required_text
from uxlab.studies.design import ANSWERING, DELIVERIES, INTERRUPTED_TRIAL_POLICIES, LAYOUTS, ORDERS, SessionDesign
from uxlab.studies.models import Question
from uxlab.studies.study_files.adaptive import AdaptiveSpec, adaptive_errors
from uxlab.studies.study_files.arms import arm_errors, arm_spec, arm_spec_union
from uxlab.studies.study_files.errors import StudyFileError, format_validation_errors, tidy_number, type_in_words
from uxlab.studies.study_files.fields import (
    REFERENCES,
    CompletionCode,
    ConsentVersion,
    Pair,
    PromptName,
    QuestionName,
    References,
    Seed,
    StudyCode,
    numbers_as_text,
    references_of,
)

FORMAT_VERSION = 1

_SESSION = SessionDesign()

# Bounds of a study file (docs/study-format.md, "Limits"): its size, its lists, its numbers.
MAX_FILE_CHARS = 2_000_000
MAX_DEPTH = 20  # no valid file nests deeper than about 5
MAX_NODES = 200_000  # values in the loaded file, counting each use of a YAML alias
MAX_ARMS = 50
MAX_PROMPTS = 1000
MAX_QUESTIONS = 50
MAX_ATTENTION_CHECKS = 50
MAX_PAIRS = 500
MAX_TRIALS = 1000
MAX_MINUTES = 1440  # a day


def _whole_number_only(value):
    # `version: 1.0` or `version: true` is not the integer 1 (Literal alone would accept both).
    return value if type(value) is int else repr(value)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentSpec(_Spec):
    version: ConsentVersion = "1"
    text: required_text()


class OutcomeCompletionSpec(_Spec):
    """The code and/or URL a participant with one particular outcome is given."""

    code: CompletionCode | None = None
    url: HttpUrl = ""

    @model_validator(mode="after")
    def _check_something_given(self):
        if not self.code and not self.url:
            raise PydanticCustomError("outcome_empty", "give a code, a url, or both")
        return self


# The outcomes besides "completed" that may have their own code (Participant.Outcome).
OUTCOMES = ("failed_attention", "timed_out", "backend_failure", "incomplete")


class CompletionSpec(_Spec):
    """The completion code and URL; optionally separate ones per outcome (as Prolific recommends)."""

    code: CompletionCode | None = None
    url: HttpUrl = ""
    failed_attention: OutcomeCompletionSpec | None = None
    timed_out: OutcomeCompletionSpec | None = None
    backend_failure: OutcomeCompletionSpec | None = None
    incomplete: OutcomeCompletionSpec | None = None

    @property
    def outcomes(self):
        """{outcome: {"code", "url"}} of the outcomes given their own."""
        return {
            name: {"code": spec.code or "", "url": spec.url}
            for name in OUTCOMES
            if (spec := getattr(self, name)) is not None
        }


# The arms section is built from the registered arm kinds (study_files/arms.py); an arm that does
# not say its kind has the default kind's model, ArmSpec.
ArmSpec = arm_spec(kinds.get(kinds.DEFAULT_KIND))
AnyArmSpec = arm_spec_union(kinds.registered())


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
    # `ask` only where an answer need not name a pane: a question asked once is about the participant.
    "likert": ("ask", "per_pane", "scale", "low_label", "high_label"),
    "slider": ("ask", "per_pane", "min", "max", "step", "low_label", "high_label"),
    "wait_estimate": ("ask", "per_pane", "max_seconds"),
    "free_text": ("ask", "max_length", "required"),
}
PER_PANE_BY_DEFAULT = ("likert", "wait_estimate")
ASK_CHOICES = tuple(Question.ASK_CHOICES)


class QuestionSpec(_Spec):
    """A question; the kind-specific options are listed in QUESTION_OPTIONS (docs/study-format.md)."""

    name: Annotated[QuestionName, StringConstraints(max_length=58)]
    kind: Literal[tuple(Question.Kind.values)] = Question.Kind.FORCED_CHOICE_TIE.value
    text: required_text(500)
    ask: Literal[ASK_CHOICES] | None = None
    per_pane: Annotated[bool, Strict()] | None = None
    scale: Annotated[Count, Field(ge=2, le=11)] | None = None
    low_label: optional_text(60) | None = None
    high_label: optional_text(60) | None = None
    min: Annotated[Number, Field(ge=-1e9, le=1e9)] | None = None
    max: Annotated[Number, Field(ge=-1e9, le=1e9)] | None = None
    step: Annotated[Number, Field(gt=0, le=1e9)] | None = None
    max_seconds: Annotated[Number, Field(gt=0, le=86_400)] | None = None
    max_length: Annotated[Count, Field(ge=1, le=200)] | None = None
    required: Annotated[bool, Strict()] | None = None

    @model_validator(mode="after")
    def _check_options_fit_the_kind(self):
        allowed = QUESTION_OPTIONS[self.kind]
        if self.ask == "once" and "ask" not in allowed:
            kinds = ", ".join(kind for kind, options in QUESTION_OPTIONS.items() if "ask" in options)
            raise PydanticCustomError(
                "once_not_for_kind",
                "ask: once is for questions of kind {kinds}; a '{kind}' answer names a pane, so it is asked after every trial",
                {"kinds": kinds, "kind": self.kind},
            )
        # `ask: every_trial` is every kind's default, so writing it out is never wrong.
        unused = [name for name in self.options_set() if name not in allowed and not (name == "ask" and self.ask == "every_trial")]
        if unused:
            raise PydanticCustomError(
                "option_not_used",
                "{names}: not used by kind '{kind}'",
                {"names": ", ".join(unused), "kind": self.kind},
            )
        if self.kind == "slider" and self.slider_range[0] >= self.slider_range[1]:
            raise PydanticCustomError("slider_range", "min must be less than max")
        if self.asked_once and self.per_pane:
            raise PydanticCustomError("once_per_pane", "ask: once cannot be per_pane (a question asked once is "
                                      "about the participant, not about a pane)")
        return self

    @property
    def asked_once(self):
        return self.ask == "once"

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
        if self.per_pane is not None:
            return self.per_pane
        return self.kind in PER_PANE_BY_DEFAULT and not self.asked_once

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
    after_trial: Annotated[Count, Field(ge=0, le=MAX_TRIALS)] | None = None


ParticipantParam = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]


class DesignSpec(_Spec):
    """The design section; every setting's default is SessionDesign's (studies/design.py).
    A fixed design lists ``pairs``; an adaptive one has an ``adaptive`` block instead."""

    pairs: Annotated[list[Pair], Field(min_length=1, max_length=MAX_PAIRS)] | None = None
    adaptive: AdaptiveSpec | None = None
    seed: Seed | None = None
    # How synthetic and trace arms reach the screen (docs/protocol.md): presented on the browser's
    # frame clock from a schedule sent ahead (controlled), or painted on arrival (server_paced).
    delivery: Literal[DELIVERIES] = _SESSION.delivery
    # The participant session (docs/study-format.md).
    order: Literal[ORDERS] = _SESSION.order
    trials_per_participant: Annotated[Count, Field(ge=1, le=MAX_TRIALS)] | None = _SESSION.trials_per_participant
    quota_per_cell: Annotated[Count, Field(ge=1, le=1_000_000)] | None = _SESSION.quota_per_cell
    layout: Literal[LAYOUTS] = _SESSION.layout
    sequential_gap_s: Annotated[Number, Field(ge=0, le=60)] = _SESSION.sequential_gap_s
    allow_stacked: Annotated[bool, Strict()] = _SESSION.allow_stacked
    min_viewport_width: Annotated[Count, Field(ge=200, le=10_000)] = _SESSION.min_viewport_width
    min_viewport_height: Annotated[Count, Field(ge=200, le=10_000)] = _SESSION.min_viewport_height
    answering: Literal[ANSWERING] = _SESSION.answering
    min_exposure_s: Annotated[Number, Field(ge=0, le=3600)] = _SESSION.min_exposure_s
    interrupted_trial: Literal[INTERRUPTED_TRIAL_POLICIES] = _SESSION.interrupted_trial
    max_restarts: Annotated[Count, Field(ge=0, le=100)] = _SESSION.max_restarts
    failure_pause_rate: Annotated[Number, Field(ge=0, le=1)] = _SESSION.failure_pause_rate
    failure_pause_after: Annotated[Count, Field(ge=1, le=10_000)] = _SESSION.failure_pause_after
    time_limit_minutes: Annotated[Number, Field(ge=1, le=MAX_MINUTES)] = _SESSION.time_limit_minutes
    abandon_after_minutes: Annotated[Number, Field(ge=1, le=MAX_MINUTES)] = _SESSION.abandon_after_minutes
    participant_param: ParticipantParam | None = _SESSION.participant_param
    require_participant_id: Annotated[bool, Strict()] = _SESSION.require_participant_id
    save_timeout_s: Annotated[Number, Field(ge=1, le=600)] = _SESSION.save_timeout_s
    ask_assistive_technology: Annotated[bool, Strict()] = _SESSION.ask_assistive_technology

    @model_validator(mode="after")
    def _check_fixed_or_adaptive(self):
        if (self.pairs is None) == (self.adaptive is None):
            raise PydanticCustomError(
                "design_kind", "give pairs (a fixed design) or adaptive (an adaptive one), not both or neither"
            )
        if self.adaptive is not None and (self.trials_per_participant is not None or self.quota_per_cell is not None):
            raise PydanticCustomError(
                "design_kind", "trials_per_participant and quota_per_cell are for pairs; use adaptive.max_trials"
            )
        return self


class StudyDefinition(_Spec):
    """A whole study file. Build it with ``parse_study_yaml`` or ``validate_study_data``."""

    version: Annotated[Literal[FORMAT_VERSION], BeforeValidator(_whole_number_only)]
    code: StudyCode | None = None
    title: required_text(200)
    description: optional_text() = ""
    consent: ConsentSpec
    instructions: optional_text() = ""
    completion: CompletionSpec = CompletionSpec()
    arms: Annotated[list[AnyArmSpec], Field(min_length=2, max_length=MAX_ARMS)]
    prompts: Annotated[list[PromptSpec], Field(min_length=1, max_length=MAX_PROMPTS)]
    questions: Annotated[list[QuestionSpec], Field(min_length=1, max_length=MAX_QUESTIONS)]
    practice: PracticeSpec | None = None
    attention_checks: Annotated[list[AttentionCheckSpec], Field(max_length=MAX_ATTENTION_CHECKS)] = []
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


_BUILT_WITH = kinds.registered()


@functools.cache
def _definition_model(registered, adaptive=False):
    """StudyDefinition, or for kinds registered since it was built, the same with those kinds' arms;
    an adaptive design needs only its reference arm, so it may have one arm."""
    if registered == _BUILT_WITH and not adaptive:
        return StudyDefinition
    arms = Annotated[list[arm_spec_union(registered)], Field(min_length=1 if adaptive else 2, max_length=MAX_ARMS)]
    return create_model("StudyDefinition", __base__=StudyDefinition, __module__=__name__, arms=(arms, ...))


# --- Parsing -------------------------------------------------------------------------------------


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark):
        super().__init__("nested too deeply")
        self.mark = mark


class _StudyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a repeated key is an error instead of silently winning,
    and nesting deeper than MAX_DEPTH stops the parse at once (PyYAML recurses per level, and its
    scanner slows quadratically with open ``[`` levels)."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH + 1:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

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
    if len(text) > MAX_FILE_CHARS:
        raise StudyFileError([f"(top level): the file is too large (at most {MAX_FILE_CHARS:,} characters)"])
    try:
        data = yaml.load(text, Loader=_StudyLoader)  # noqa: S506 - _StudyLoader is a SafeLoader
    except _TooDeep as exc:
        where = f"line {exc.mark.line + 1}, column {exc.mark.column + 1}"
        raise StudyFileError([f"{where}: nested too deeply (at most {MAX_DEPTH} levels)"]) from None
    except RecursionError:
        raise StudyFileError([f"(top level): nested too deeply (at most {MAX_DEPTH} levels)"]) from None
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
    shape_errors = _shape_errors(data)
    if shape_errors:
        raise StudyFileError(shape_errors)
    try:
        design = data.get("design")
        model = _definition_model(kinds.registered(), isinstance(design, dict) and design.get("adaptive") is not None)
        definition = model.model_validate(data, context={REFERENCES: References.of(data)})
    except ValidationError as exc:
        raise StudyFileError(format_validation_errors(exc)) from None
    errors = _session_errors(definition) + arm_errors(definition.arms) + _completion_errors(definition)
    errors += _duration_errors(definition) + adaptive_errors(definition)
    if errors:
        raise StudyFileError(errors)
    return definition


PRACTICE_PROMPT_NAME = "practice"


def _shape_errors(data):
    """Problems no field type can report: a file nested too deeply or too big once its YAML aliases
    are expanded, and NUL characters (which no text may hold). Walked without recursion."""
    errors = []
    stack = [(data, (), 0)]
    nodes = 0
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return [f"(top level): too many values (at most {MAX_NODES:,}, counting each use of an alias)"]
        if depth > MAX_DEPTH:
            return [f"{_path_text(path)}: nested too deeply (at most {MAX_DEPTH} levels)"]
        if isinstance(value, str):
            if "\x00" in value:
                errors.append(f"{_path_text(path)}: must not contain NUL characters")
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    errors.append(f"{_path_text(path)}: a key must not contain NUL characters")
                    continue
                stack.append((item, (*path, key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, (*path, index), depth + 1) for index, item in enumerate(value))
    return sorted(set(errors))


def _path_text(path):
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _completion_errors(definition):
    """An outcome's own code must differ from the main one (or the outcomes cannot be told apart)."""
    completion = definition.completion
    return [
        f"completion.{name}.code: must differ from completion.code"
        for name in OUTCOMES
        if (spec := getattr(completion, name)) is not None and spec.code and spec.code == completion.code
    ]


def _duration_errors(definition):
    """A trial must be able to finish within the session's time limit: each pair's panes (or an
    adaptive design's reference against each end of its ranges) are estimated by their kind for
    each prompt, side by side or one after the other."""
    design = definition.design
    limit_s = design.time_limit_minutes * 60
    arms = {arm.name: arm for arm in definition.arms}
    texts = [(prompt.name, prompt.response, prompt.reasoning) for prompt in definition.prompts]
    texts += [(check.name, check.response, "") for check in definition.attention_checks]
    if definition.practice is not None:
        texts.append((PRACTICE_PROMPT_NAME, definition.practice.response, definition.practice.reasoning))
    trials = [
        (f"design.pairs[{index}]", [(arms[name].kind, arms[name].profile) if name in arms else None for name in pair])
        for index, pair in enumerate(design.pairs or [])
    ]
    adaptive = design.adaptive
    if adaptive is not None and adaptive.reference in arms:
        reference = arms[adaptive.reference]
        kind = kinds.get(reference.kind)
        if adaptive.dimension in kind.varies:
            trials += [
                (f"design.adaptive.tracks[{index}].range",
                 [(reference.kind, reference.profile),
                  (reference.kind, kind.with_dimension(reference.profile, adaptive.dimension, value))])
                for index, track in enumerate(adaptive.tracks)
                for value in track.range
            ]
    errors = []
    for path, panes in trials:
        for name, response, reasoning in texts:
            estimates = [
                0.0 if pane is None else (kinds.get(pane[0]).longest_pane_s(pane[1], response, reasoning) or 0.0)
                for pane in panes
            ]
            trial_s = sum(estimates) + design.sequential_gap_s if design.layout == "sequential" else max(estimates)
            if trial_s > limit_s:
                error = (
                    f"{path}: a trial with prompt '{name}' would stream for about {trial_s:,.0f} s,"
                    f" longer than design.time_limit_minutes ({tidy_number(design.time_limit_minutes)} min)"
                )
                if error not in errors:
                    errors.append(error)
                break
    return errors


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
        if question.asked_once:
            errors.append(f"{path}.question: must be asked after every trial, not once (ask: once)")
            continue
        try:
            question.clean_value(check.expected)
        except ValueError as error:
            errors.append(f"{path}.expected: {str(error)[0].lower()}{str(error)[1:].rstrip('.')}")
    return errors
