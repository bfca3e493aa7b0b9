"""The builder's forms, generated from the study file's own pydantic models.

Each field is read from the schema (its type, choices, default, whether it is required), rendered
as a plain input, and turned back into the value a YAML file would hold: numbers as numbers, yes/no
as booleans, empty optional fields left out. Nothing is checked here: the posted section goes
through the study-file schema (studies/drafts.py), whose ``path: message`` problems are shown
beside the field of that path.
"""

import types
import typing
from dataclasses import dataclass, field

from pydantic_core import PydanticUndefined

from uxlab.streaming import kinds
from uxlab.studies.drafts import DESIGN_KEYS, SESSION_KEYS
from uxlab.studies.study_files import (
    QUESTION_OPTIONS,
    AttentionCheckSpec,
    CompletionSpec,
    ConsentSpec,
    DesignSpec,
    PracticeSpec,
    PromptSpec,
    QuestionSpec,
    StudyDefinition,
)
from uxlab.studies.study_files.arms import arm_spec
from uxlab.studies.study_files.errors import tidy_number
from uxlab.studies.study_files.schema import OUTCOMES, OutcomeCompletionSpec

LONG_TEXT = {"text", "response", "reasoning", "description", "instructions", "consent.text"}


@dataclass
class FieldSpec:
    """One input of a builder form; ``name`` is its path inside the section's data."""

    name: str
    label: str
    widget: str  # text, textarea, number, select, bool
    required: bool = False
    choices: tuple = ()
    default: str = ""
    integer: bool = False
    kinds: str = ""  # for question options: the kinds that use it (builder.js hides the others)
    value: str = ""
    errors: list = field(default_factory=list)
    checked: bool = False

    @property
    def input_id(self):
        return "f-" + self.name.replace(".", "-")


def _unwrap(annotation):
    """(base type, optional) of an annotation: Optional and Annotated removed."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            annotation = args[0]
        else:
            return annotation, optional


_WORDS = {"ttft": "TTFT", "cv": "CV", "url": "URL", "api": "API", "env": "variable", "s": "s"}


def _label(name):
    text = " ".join(_WORDS.get(word, word) for word in name.split(".")[-1].split("_"))
    for suffix, unit in ((" s", " (s)"), (" minutes", " (minutes)")):
        if text.endswith(suffix):
            text = text[: -len(suffix)] + unit
    return text[0].upper() + text[1:]


def fields_of(model, names=None, prefix="", label_prefix=""):
    """The FieldSpecs of a pydantic model's fields (all, or ``names`` in that order)."""
    specs = []
    for name in names or list(model.model_fields):
        info = model.model_fields[name]
        base, optional = _unwrap(info.annotation)
        full = f"{prefix}{name}"
        default = info.default if info.default is not PydanticUndefined else None
        spec = FieldSpec(full, label_prefix + _label(name), "text", required=info.is_required())
        if typing.get_origin(base) is typing.Literal:
            spec.widget = "select"
            spec.choices = tuple(typing.get_args(base))
        elif base is bool:
            spec.widget = "bool"
        elif base in (int, float):
            spec.widget, spec.integer = "number", base is int
        elif full in LONG_TEXT or name in LONG_TEXT:
            spec.widget = "textarea"
        if default is not None and default != "":
            spec.default = display(default)
        elif optional and spec.widget in ("select", "bool"):
            spec.default = ""
        specs.append(spec)
    return specs


def display(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(tidy_number(value))


def value_at(data, path):
    """The value at a dotted `path` of nested mappings (None where a part is missing)."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _set(data, path, value):
    parts = path.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def bind(specs, data):
    """Fill each field's shown value from the section's data."""
    for spec in specs:
        value = value_at(data, spec.name)
        spec.value = display(value) if not isinstance(value, (dict, list)) else ""
        spec.checked = value is True
    return specs


def parse(specs, post):
    """The section's data from posted fields, as a YAML file would hold it."""
    data = {}
    for spec in specs:
        raw = post.get(spec.name, "")
        raw = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
        if spec.widget == "bool":
            if raw in ("true", "false"):
                _set(data, spec.name, raw == "true")
            continue
        if raw.strip() == "":
            if spec.required and spec.widget in ("text", "textarea"):
                _set(data, spec.name, "")
            continue
        if spec.widget == "number":
            _set(data, spec.name, _number(raw.strip(), spec.integer))
        else:
            _set(data, spec.name, raw.strip() if spec.widget in ("select", "text") else raw)
    return data


def _number(text, integer):
    """A number if the text is one (the schema then checks its range and wholeness), else the text,
    which the schema reports as "must be a number"."""
    try:
        return int(text) if integer else tidy_number(float(text))
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# --- The sections' fields -------------------------------------------------------------------------


def study_fields():
    return fields_of(StudyDefinition, ["title", "description"]) + fields_of(
        ConsentSpec, ["version", "text"], prefix="consent.", label_prefix="Consent "
    ) + fields_of(StudyDefinition, ["instructions"])


def completion_fields():
    specs = fields_of(CompletionSpec, ["code", "url"])
    for outcome in OUTCOMES:
        label = outcome.replace("_", " ").capitalize() + ": "
        specs += fields_of(OutcomeCompletionSpec, ["code", "url"], prefix=f"{outcome}.", label_prefix=label)
    return specs


def design_fields():
    return fields_of(DesignSpec, [key for key in DESIGN_KEYS if key != "pairs"])


def session_fields():
    return fields_of(DesignSpec, list(SESSION_KEYS))


def practice_fields():
    return fields_of(PracticeSpec)


def prompt_fields():
    return fields_of(PromptSpec)


def attention_check_fields():
    return fields_of(AttentionCheckSpec)


def question_fields():
    specs = fields_of(QuestionSpec)
    for spec in specs:
        if spec.name not in ("name", "kind", "text"):
            spec.kinds = " ".join(kind for kind, options in QUESTION_OPTIONS.items() if spec.name in options)
    return specs


def arm_fields(kind_name):
    """An arm's own fields then its kind's settings; ``kind`` is fixed when the arm is added."""
    return [spec for spec in fields_of(arm_spec(kinds.get(kind_name))) if spec.name != "kind"]


ITEM_FIELDS = {
    "prompts": prompt_fields,
    "questions": question_fields,
    "attention_checks": attention_check_fields,
}
SECTION_FIELDS = {
    "study": study_fields,
    "completion": completion_fields,
    "design": design_fields,
    "session": session_fields,
    "practice": practice_fields,
}


def item_fields(section, item):
    if section == "arms":
        kind = item.get("kind", kinds.DEFAULT_KIND) if isinstance(item, dict) else kinds.DEFAULT_KIND
        return arm_fields(kind if kind in kinds.names() else kinds.DEFAULT_KIND)
    return ITEM_FIELDS[section]()


def attach_errors(specs, problems, prefix):
    """Put each problem beside its field; the ones of no field come back (shown above the form)."""
    by_name = sorted(specs, key=lambda spec: -len(spec.name))
    rest = []
    for path, message in problems:
        relative = path[len(prefix):].lstrip(".") if prefix and path.startswith(prefix) else path
        target = next(
            (spec for spec in by_name
             if relative == spec.name or relative.startswith(spec.name + ".") or relative.startswith(spec.name + "[")),
            None,
        )
        if target is None:
            rest.append((path, message))
        else:
            target.errors.append(message)
    return rest
