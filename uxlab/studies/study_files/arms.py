"""The study file's arms: the arm's own fields, then its kind's settings (streaming/kinds).

The arms section is a union discriminated by ``kind`` and built from the registry, so a kind is
accepted here, checked against the study's other arms, and exported as soon as it is registered.
"""

import functools
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, create_model

from uxlab.streaming import kinds
from uxlab.streaming.kinds.fields import optional_text
from uxlab.studies.study_files.fields import ArmName


class ArmFields(BaseModel):
    """Every arm's own fields, whatever its kind; the kind's settings follow ``kind``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ArmName
    label: optional_text(200) = ""
    source: optional_text(300) = ""
    kind: str


@functools.cache
def arm_spec(kind: kinds.ArmKind) -> type[BaseModel]:
    """The model of an arm of this kind in a study file; ``kind`` may be left out for the default kind."""
    is_default = kind.name == kinds.DEFAULT_KIND
    model_name = "ArmSpec" if is_default else f"{kind.name.title().replace('_', '')}ArmSpec"
    return create_model(
        model_name,
        __base__=(kind.Settings, ArmFields),  # in this order, ArmFields' fields come first
        __module__=__name__,
        __doc__=f"An arm of kind {kind.name!r}: {kind.Settings.__doc__ or ''}".strip(),
        kind=(Literal[kind.name], kind.name if is_default else ...),
    )


def _kind_tag(value):
    kind = value.get("kind", kinds.DEFAULT_KIND) if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


def arm_spec_union(registered: tuple[kinds.ArmKind, ...]):
    """One arm of any of these kinds, chosen by its ``kind``."""
    return Annotated[
        Union[tuple(Annotated[arm_spec(kind), Tag(kind.name)] for kind in registered)],  # noqa: UP007
        Discriminator(_kind_tag),
    ]


def arm_errors(arms) -> list[str]:
    """Each arm's problems among the study's other arms (a trace's recorded arm must be live)."""
    kind_of_arm = {arm.name: kinds.get(arm.kind) for arm in arms}.get
    return [
        f"arms[{index}].{field}: {message}"
        for index, arm in enumerate(arms)
        for field, message in kinds.get(arm.kind).study_errors(arm, kind_of_arm).items()
    ]

