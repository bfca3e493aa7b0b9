"""The arm kinds, registered in one place: synthetic profile, live backend, recorded trace.

Framework-free, so the study file, the studies app, the consumer and the analysis all use the same
kinds. To add a kind, write an ``ArmKind`` subclass (kinds/base.py) and register an instance below;
nothing else switches on a kind's name. ``register`` and ``unregister`` also serve tests and plugins.
"""

from collections.abc import Iterable

from uxlab.streaming import delivery
from uxlab.streaming.kinds.base import DIMENSIONS, ArmKind, ArmSettings, Concurrency, StimulusNotReady, Withheld
from uxlab.streaming.kinds.live import LiveKind
from uxlab.streaming.kinds.synthetic import SyntheticKind
from uxlab.streaming.kinds.trace import TraceKind

__all__ = [
    "ArmKind",
    "ArmSettings",
    "Concurrency",
    "StimulusNotReady",
    "Withheld",
    "DEFAULT_KIND",
    "DIMENSIONS",
    "delivery_for",
    "get",
    "kind_of",
    "names",
    "register",
    "registered",
    "unregister",
]

_registry: dict[str, ArmKind] = {}


def register(kind: ArmKind) -> ArmKind:
    """Make a kind available to study files, trials and exports; its name must be new."""
    if kind.name in _registry:
        raise ValueError(f"an arm kind named {kind.name!r} is already registered")
    _registry[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    del _registry[name]


def get(name: str) -> ArmKind:
    try:
        return _registry[name]
    except KeyError:
        raise ValueError(f"unknown arm kind {name!r}") from None


def registered() -> tuple[ArmKind, ...]:
    """The kinds in the order they were registered (the order error messages list them in)."""
    return tuple(_registry.values())


def names() -> tuple[str, ...]:
    return tuple(_registry)


# An arm (or a pane spec) that does not say its kind is synthetic.
DEFAULT_KIND = SyntheticKind.name


def kind_of(spec: dict) -> ArmKind:
    """The kind of a pane spec (studies.actions.trial_pane_specs builds it)."""
    return get(spec.get("kind", DEFAULT_KIND))


def delivery_for(kind_names: Iterable[str], chosen: str) -> str:
    """A trial's delivery mode: live when either pane's kind is relayed, else the study's choice."""
    return delivery.LIVE if any(get(name).relayed for name in kind_names) else chosen


register(SyntheticKind())
register(LiveKind())
register(TraceKind())
