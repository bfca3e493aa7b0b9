"""One entry point per arm kind: what a pane shows, from the stimulus spec ``actions.start_trial`` builds.

A spec is a plain dict: ``kind`` ("synthetic" | "trace" | "live"), ``profile`` (the arm's
parameters), ``content`` and ``reasoning`` (the prompt's response texts), ``seed``; trace arms add
``trace`` (``{"chunks": [...]}`` of a recorded trace, or ``{"offsets": [...]}`` of a built-in
cadence); live arms add ``prompt`` (the text sent to the backend).

* ``schedule_for_spec(spec)``: the tokens a synthetic or trace pane shows, due times from t0,
  with the thinking phase reduced to what the display mode reveals.
* ``intended_schedule(spec)``: the same before that reduction (every thinking token), for fidelity.
* ``live_events(spec)``: an async generator of a live pane's chunks, reduced the same way.
"""

import functools
from collections.abc import AsyncIterator

from uxlab.streaming.backends.openai_compat import Chunk, Finish, LiveSettings, Usage, stream_chat, user_messages
from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.schedule import ANSWER, THINKING, Token, build_schedule
from uxlab.streaming.tokens import load_tokenizer, split_tokens
from uxlab.streaming.traces import builtin_offsets, replay_schedule, retime, trace_tokens

ARM_KINDS = ("synthetic", "live", "trace")

# Parameters of a trace arm's ``profile`` (besides its source, ``builtin`` or ``recorded_arm``).
RETIME_FIELDS = ("tokens_per_second", "ttft_s", "speed_factor")

# Parameters of a live arm's ``profile`` that are LiveSettings fields.
LIVE_FIELDS = (
    "base_url",
    "model",
    "api_key_env",
    "max_tokens",
    "temperature",
    "connect_timeout_s",
    "first_chunk_timeout_s",
    "inter_chunk_timeout_s",
)


@functools.lru_cache(maxsize=16)
def _tokenizer(path):
    return load_tokenizer(path)


def tokenizer_for(profile: dict):
    """The split function an arm asks for: its ``tokenizer`` file, else the built-in approximation."""
    path = profile.get("tokenizer")
    return _tokenizer(path) if path else split_tokens


def intended_schedule(spec: dict) -> list[Token]:
    """Every token the arm's schedule holds (thinking included), due times from the common t0."""
    kind = spec.get("kind", "synthetic")
    profile = dict(spec.get("profile") or {})
    tokenize = tokenizer_for(profile)
    if kind == "synthetic":
        profile.pop("tokenizer", None)
        synthetic = SyntheticProfile(**profile)
        return build_schedule(synthetic, spec["content"], spec["seed"], spec.get("reasoning", ""), tokenize=tokenize)
    if kind == "trace":
        trace = spec.get("trace") or {}
        if trace.get("chunks") is not None:
            tokens = trace_tokens(trace["chunks"], tokenize)
        else:
            offsets = trace.get("offsets") or builtin_offsets(profile["builtin"])
            tokens = replay_schedule(list(offsets), spec["content"], tokenize=tokenize)
        return retime(tokens, **{key: profile[key] for key in RETIME_FIELDS if profile.get(key) is not None})
    raise ValueError(f"a {kind!r} arm has no schedule (live arms stream with live_events)")


def display_tokens(tokens: list[Token], display: str) -> list[Token]:
    """Reduce the thinking phase to what the display mode reveals.

    ``visible`` keeps it; ``hidden`` keeps one empty marker at the first thinking token (the
    browser shows "Thinking…" with the elapsed time, never the count); ``none`` drops it.
    """
    if display == "visible":
        return tokens
    answer = [token for token in tokens if token.phase == ANSWER]
    first_thinking = next((token for token in tokens if token.phase == THINKING), None)
    if display == "hidden" and first_thinking is not None:
        return [Token(first_thinking.due_s, "", THINKING), *answer]
    return answer


def schedule_for_spec(spec: dict) -> list[Token]:
    """The tokens a synthetic or trace pane shows, in due order from the trial's common t0."""
    display = (spec.get("profile") or {}).get("thinking_display", "hidden")
    return display_tokens(intended_schedule(spec), display)


def live_settings(profile: dict) -> LiveSettings:
    return LiveSettings(**{key: profile[key] for key in LIVE_FIELDS if profile.get(key) is not None})


async def live_events(spec: dict, *, transport=None) -> AsyncIterator[Chunk | Usage | Finish]:
    """A live pane's events as the backend produces them, thinking reduced as in display_tokens.

    Raises ``BackendError`` (stable ``code``) when the backend fails; the consumer decides what
    the participant sees (never the backend's name or URL).
    """
    profile = spec["profile"]
    display = profile.get("thinking_display", "hidden")
    marked = False
    async for event in stream_chat(live_settings(profile), user_messages(spec["prompt"]), transport=transport):
        if isinstance(event, Chunk) and event.phase == THINKING and display != "visible":
            if display == "hidden" and not marked:
                marked = True
                yield Chunk(event.arrival_s, THINKING, "")
            continue
        yield event
