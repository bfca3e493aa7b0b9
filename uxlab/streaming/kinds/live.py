"""Live arms: any OpenAI-compatible chat-completions endpoint, streamed with httpx as it produces
(streaming/backends/openai_compat.py); the API key is read from ``api_key_env`` at call time."""

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from uxlab.streaming.backends import egress

from uxlab.streaming.backends.openai_compat import Chunk, LiveSettings, stream_chat, user_messages
from uxlab.streaming.kinds.base import ArmKind, ArmSettings, Concurrency, Withheld
from uxlab.streaming.kinds.fields import Count, EnvName, Number, RequiredHttpUrl, required_text
from uxlab.streaming.profiles import THINKING_DISPLAYS
from uxlab.streaming.schedule import THINKING
from uxlab.streaming.traces import capture_trace

# The settings of a live Arm.profile that are LiveSettings fields.
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


# The settings of a live Arm.profile that are not the backend's: display and in-flight limits.
CONCURRENCY_FIELDS = ("thinking_display", "max_in_flight", "when_full", "queue_timeout_s")


def live_settings(profile: dict) -> LiveSettings:
    return LiveSettings(**{key: profile[key] for key in LIVE_FIELDS if profile.get(key) is not None})


class LiveKind(ArmKind):
    name = "live"
    relayed = True
    recordable = True

    class Settings(ArmSettings):
        """The backend: its URL, model, the name of the variable holding its key, and timeouts."""

        base_url: RequiredHttpUrl
        model: required_text(200)
        api_key_env: EnvName = ""
        max_tokens: Annotated[Count, Field(ge=1, le=1_000_000)] = 1024
        temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
        connect_timeout_s: Annotated[Number, Field(gt=0, le=600)] = 10.0
        first_chunk_timeout_s: Annotated[Number, Field(gt=0, le=3600)] = 300.0
        inter_chunk_timeout_s: Annotated[Number, Field(gt=0, le=3600)] = 60.0
        thinking_display: Literal[THINKING_DISPLAYS] = "hidden"
        # At most this many of the arm's streams in flight at once, across web processes (no limit
        # when unset); a trial that finds them all busy waits up to queue_timeout_s ("queue") or is
        # skipped at once ("skip").
        max_in_flight: Annotated[Count, Field(ge=1, le=100_000)] | None = None
        when_full: Literal["queue", "skip"] = "queue"
        queue_timeout_s: Annotated[Number, Field(gt=0, le=3600)] = 60.0

        @field_validator("base_url")
        @classmethod
        def _public_host(cls, value):
            try:
                egress.check_url(value)
            except egress.EgressRefused as exc:
                raise PydanticCustomError("address_refused", str(exc)) from None
            return value

        @field_validator("api_key_env")
        @classmethod
        def _allowed_key_name(cls, value, info: ValidationInfo):
            try:
                egress.check_key_name(value)
            except egress.EgressRefused as exc:
                raise PydanticCustomError("key_not_allowed", str(exc)) from None
            base_url = info.data.get("base_url")  # absent when base_url itself was refused
            if base_url:
                try:
                    egress.check_key_host(value, base_url)
                except egress.EgressRefused as exc:
                    raise PydanticCustomError("key_not_bound", str(exc)) from None
            return value

        @property
        def profile(self):
            return self.model_dump(include=set(LIVE_FIELDS) | set(CONCURRENCY_FIELDS), exclude_none=True)

    def stimulus(self, profile, prompt_text, recording):
        """The text the backend is sent."""
        return {"prompt": prompt_text}

    def concurrency(self, profile):
        defaults = Concurrency()
        return Concurrency(
            profile.get("max_in_flight"),
            profile.get("when_full", defaults.when_full),
            profile.get("queue_timeout_s", defaults.queue_timeout_s),
        )

    async def events(self, spec, *, transport=None):
        """The backend's events as it produces them, thinking reduced as in display_tokens; the
        reasoning that is not shown comes as ``Withheld`` chunks, kept on the server only.

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
                yield Withheld(event)
                continue
            yield event

    async def capture(self, profile, prompt_text, *, transport=None):
        settings = live_settings(profile)
        trace = await capture_trace(settings, user_messages(prompt_text), transport=transport)
        return {**trace, "source": f"{settings.model} at {urlsplit(settings.base_url).hostname}"}
