"""The participant websocket's wire format (protocol v1): the one place it is defined.

Browser → server frames are parsed into pydantic models; anything malformed raises
ProtocolError with a stable code the browser can act on. Server → browser frames are built
by the small functions at the bottom. docs/protocol.md documents both directions.
"""

from typing import Annotated, Literal, Union
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16_384


class ProtocolError(Exception):
    """A frame the server cannot accept; `code` is stable, `message` is for people."""

    def __init__(self, code, message, ref=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrialStart(ClientMessage):
    type: Literal["trial.start"]
    trial: int = Field(ge=0, le=10_000)


class RatingSubmit(ClientMessage):
    type: Literal["rating.submit"]
    key: UUID
    trial: int = Field(ge=0, le=10_000)
    question: str = Field(min_length=1, max_length=60)
    value: str = Field(min_length=1, max_length=200)
    response_ms: int = Field(ge=0, le=86_400_000)


class Ping(ClientMessage):
    type: Literal["ping"]
    t: float


ClientFrame = Annotated[Union[TrialStart, RatingSubmit, Ping], Field(discriminator="type")]
_client_frame = TypeAdapter(ClientFrame)
KNOWN_TYPES = ("trial.start", "rating.submit", "ping")


def parse_client_frame(text):
    """Parse one text frame from the browser, or raise ProtocolError."""
    if text is None:
        raise ProtocolError("bad_frame", "Only text frames are accepted.")
    if len(text) > MAX_FRAME_BYTES:
        raise ProtocolError("too_large", f"Frames are limited to {MAX_FRAME_BYTES} bytes.")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "A frame must be a JSON object.")
    ref = data.get("key") if isinstance(data.get("key"), str) else None
    if data.get("type") not in KNOWN_TYPES:
        raise ProtocolError("unknown_type", f"Unknown message type; expected one of {', '.join(KNOWN_TYPES)}.", ref)
    try:
        return _client_frame.validate_python(data)
    except ValidationError as error:
        raise ProtocolError("bad_message", describe_validation_error(error), ref) from None


def describe_validation_error(error):
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"][1:]) or "message"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def encode(message_type, **fields):
    return orjson.dumps({"type": message_type, **fields}).decode()


def hello_frame():
    return encode("hello", protocol=PROTOCOL_VERSION)


def error_frame(code, message, ref=None):
    fields = {"code": code, "message": message}
    if ref is not None:
        fields["ref"] = ref
    return encode("error", **fields)


def stream_start_frame(seq, trial):
    return encode("stream.start", seq=seq, trial=trial)


def stream_delta_frame(seq, pane, phase, text, tokens, due_ms):
    return encode("stream.delta", seq=seq, pane=pane, phase=phase, text=text, tokens=tokens, due_ms=due_ms)


def stream_done_frame(seq, pane):
    return encode("stream.done", seq=seq, pane=pane)


def stream_end_frame(seq, trial):
    return encode("stream.end", seq=seq, trial=trial)


def thinking_frame(seq, pane, display):
    return encode("stream.thinking", seq=seq, pane=pane, display=display)


def rating_stored_frame(key):
    return encode("rating.stored", key=str(key))


def rating_retry_frame(key, reason):
    return encode("rating.retry", key=str(key), reason=reason)


def pong_frame(t, server_ms):
    return encode("pong", t=t, server_ms=server_ms)
