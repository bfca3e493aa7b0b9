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
from uxlab.studies.study_files.arms import arm_errors, arm_spec, arm_spec_union
from uxlab.studies.study_files.errors import StudyFileError, format_validation_errors, type_in_words
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


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentSpec(_Spec):
    version: ConsentVersion = "1"
    text: required_text()


class CompletionSpec(_Spec):
    code: CompletionCode | None = None
    url: HttpUrl = ""


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
    max_restarts: Annotated[Count, Field(ge=0, le=100)] = _SESSION.max_restarts
    failure_pause_rate: Annotated[Number, Field(ge=0, le=1)] = _SESSION.failure_pause_rate
    failure_pause_after: Annotated[Count, Field(ge=1, le=10_000)] = _SESSION.failure_pause_after
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


_BUILT_WITH = kinds.registered()


@functools.cache
def _definition_model(registered):
    """StudyDefinition, or for kinds registered since it was built, the same with those kinds' arms."""
    if registered == _BUILT_WITH:
        return StudyDefinition
    arms = Annotated[list[arm_spec_union(registered)], Field(min_length=2)]
    return create_model("StudyDefinition", __base__=StudyDefinition, __module__=__name__, arms=(arms, ...))


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
        model = _definition_model(kinds.registered())
        definition = model.model_validate(data, context={REFERENCES: References.of(data)})
    except ValidationError as exc:
        raise StudyFileError(format_validation_errors(exc)) from None
    errors = _session_errors(definition) + arm_errors(definition.arms)
    if errors:
        raise StudyFileError(errors)
    return definition


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
