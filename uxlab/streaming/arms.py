"""One entry point from a pane's stimulus spec to what the pane shows, whatever its arm's kind.

A spec is a plain dict (``actions.trial_pane_specs`` builds it): ``kind``, ``profile`` (the arm's
parameters), ``content`` and ``reasoning`` (the prompt's response texts), ``seed``, and what the
kind's ``stimulus`` adds (streaming/kinds/). Each call goes to the spec's kind:

* ``schedule_for_spec(spec)``: the tokens a scheduled pane shows, due times from t0, with the
  thinking phase reduced to what the display mode reveals.
* ``intended_schedule(spec)``: the same before that reduction (every thinking token), for fidelity.
* ``live_events(spec)``: an async iterator of a relayed pane's chunks, reduced the same way.
"""

from collections.abc import AsyncIterator

from uxlab.streaming.backends.openai_compat import Chunk, Finish, Usage
from uxlab.streaming.kinds import kind_of
from uxlab.streaming.kinds.base import display_tokens, tokenizer_for
from uxlab.streaming.schedule import Token

__all__ = ["display_tokens", "intended_schedule", "live_events", "schedule_for_spec", "tokenizer_for"]


def intended_schedule(spec: dict) -> list[Token]:
    """Every token the arm's schedule holds (thinking included), due times from the common t0."""
    return kind_of(spec).schedule(spec)


def schedule_for_spec(spec: dict) -> list[Token]:
    """The tokens a scheduled pane shows, in due order from the trial's common t0."""
    display = (spec.get("profile") or {}).get("thinking_display", "hidden")
    return display_tokens(intended_schedule(spec), display)


def live_events(spec: dict, *, transport=None) -> AsyncIterator[Chunk | Usage | Finish]:
    """A relayed pane's events as its backend produces them (see the kind's ``events``)."""
    return kind_of(spec).events(spec, transport=transport)
