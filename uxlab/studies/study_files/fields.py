"""The study file's own field types: codes, and names with the cross-references between them.

The general types (strict numbers, stripped text, slugs, URLs) are the ones arm kinds declare their
settings with (streaming/kinds/fields.py). Names that must be unique, and pairs that must name known
arms, are checked item by item against the names found in the raw data (see ``References``).
"""

from collections import Counter
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints, ValidationInfo
from pydantic_core import PydanticCustomError

from uxlab.streaming.kinds.fields import SLUG_PATTERN, Slug


def numbers_as_text(value):
    # `version: 1` or `code: 2024` are meant as text; YAML reads them as numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _code(min_length, max_length, pattern=SLUG_PATTERN, strip=False):
    """Short text such as a code or a version, where a bare number in the YAML is meant as text."""
    constraints = StringConstraints(
        strip_whitespace=strip, min_length=min_length, max_length=max_length, pattern=pattern
    )
    return Annotated[str, BeforeValidator(numbers_as_text), constraints]


StudyCode = _code(3, 40)
CompletionCode = _code(1, 40)
ConsentVersion = _code(1, 40, pattern=None, strip=True)
Seed = _code(1, 64, pattern=None, strip=True)


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

