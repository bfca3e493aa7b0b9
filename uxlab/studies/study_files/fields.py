"""The field types of the study file: text, numbers, names, and the cross-references between them.

Numbers are strict and text is stripped; names that must be unique, and pairs that must name known
arms, are checked item by item against the names found in the raw data (see ``References``).
"""

import re
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from pydantic import AfterValidator, BeforeValidator, Field, Strict, StringConstraints, ValidationInfo
from pydantic_core import PydanticCustomError

from uxlab.streaming.presets import PRESETS
from uxlab.streaming.tokens import load_tokenizer


def _none_as_empty(value):
    return "" if value is None else value


def numbers_as_text(value):
    # `version: 1` or `code: 2024` are meant as text; YAML reads them as numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


_url_validator = URLValidator(schemes=["http", "https"])


def check_http_url(value):
    if value:
        try:
            _url_validator(value)
        except DjangoValidationError:
            raise PydanticCustomError("url", "must be an http(s) URL") from None
    return value


def required_text(max_length=None):
    """Required text, stripped at both ends."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)]


def optional_text(max_length=None):
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
    return Annotated[str, BeforeValidator(numbers_as_text), constraints]


Slug = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=SLUG_PATTERN)]
StudyCode = _code(3, 40)
CompletionCode = _code(1, 40)
ConsentVersion = _code(1, 40, pattern=None, strip=True)
Seed = _code(1, 64, pattern=None, strip=True)
HttpUrl = Annotated[optional_text(200), AfterValidator(check_http_url)]

# Numbers are strict: `ttft_s: "0.2"` or `chunk_tokens: 1.5` is an error, not a silent conversion.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Count = Annotated[int, Strict()]


# --- Cross-references ---------------------------------------------------------------------------
# Duplicate names and pairs naming unknown arms are checked item by item against the names found in
# the raw data, passed as validation context, so each problem is reported at its own path and
# independently of mistakes elsewhere in the file.

REFERENCES = "study_file_references"


@dataclass(frozen=True)
class References:
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


def references_of(info):
    context = info.context
    return context.get(REFERENCES) if isinstance(context, dict) else None


def _unique_in(list_name):
    def check(name, info: ValidationInfo):
        references = references_of(info)
        if references is not None and references.name_counts[list_name][name] > 1:
            raise PydanticCustomError("duplicate_name", "duplicate name '{name}'", {"name": name})
        return name

    return check


def _known_arm(name, info: ValidationInfo):
    references = references_of(info)
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


def preset_defaults(fields):
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
TokenizerPath = Annotated[optional_text(500), AfterValidator(_loadable_tokenizer)]


def _env_name(value):
    # The value is never echoed: a researcher may have pasted the key itself here by mistake.
    if not re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]{0,99})?", value):
        raise PydanticCustomError("env_name", "must be the name of an environment variable (letters, digits, '_')")
    return value


EnvName = Annotated[optional_text(100), AfterValidator(_env_name)]
RequiredHttpUrl = Annotated[required_text(200), AfterValidator(check_http_url)]
