"""The participant websocket's wire format (protocol v1): the one place it is defined.

Browser → server frames are parsed strictly into pydantic models (no coercion: `"trial": "0"` or
`"t": true` is a `bad_message`); anything malformed raises ProtocolError with a stable code the
browser can act on. Frame sizes are counted in bytes (UTF-8), as the browser sends them. Server → browser frames are built
by the small functions at the bottom. docs/protocol.md documents both directions.
"""

import re
from typing import Annotated, Literal, Union
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter, ValidationError, field_validator

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16_384
# A trial's telemetry (one entry per painted frame) may be larger than any other message.
MAX_TELEMETRY_BYTES = 1_048_576
# No trial's stream has this many messages; a resume point past its end is refused by the consumer.
MAX_SEQ = 1_000_000

# Numbers are taken as sent: a string, a bool or (for an integer) a float is a bad_message.
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
# Telemetry times are ms after the trial's t0 on the page's clock. A session lasts at most a day
# (design.time_limit_minutes) and its extensions, so no page measures a time past this (about 11.6
# days) either side of t0; bounded, a trial's summary (differences, percentiles) stays finite.
MAX_TELEMETRY_MS = 1e9
TelemetryMs = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-MAX_TELEMETRY_MS, le=MAX_TELEMETRY_MS)]
# A stream message's number, and how many of its tokens one update showed: no message has more.
Seq = Annotated[int, Strict(), Field(ge=0, le=MAX_SEQ)]
TokenCount = Annotated[int, Strict(), Field(ge=0, le=MAX_SEQ)]


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
    trial: Int = Field(ge=0, le=10_000)
    # On a reconnect: the last stream sequence number the browser has, to resume after it.
    after_seq: Int | None = Field(default=None, ge=0, le=MAX_SEQ)


class RatingSubmit(ClientMessage):
    type: Literal["rating.submit"]
    key: UUID
    trial: Int = Field(ge=0, le=10_000)
    question: str = Field(min_length=1, max_length=60)
    value: str = Field(min_length=1, max_length=200)
    response_ms: Int = Field(ge=0, le=86_400_000)


class Ping(ClientMessage):
    type: Literal["ping"]
    t: Number


class ClockEstimate(ClientMessage):
    offset_ms: Number
    rtt_ms: Number = Field(ge=0)
    rounds: Int = Field(ge=0, le=100)
    # Half the smallest round trip: the estimate's error bound (older pages did not send it).
    uncertainty_ms: Number | None = Field(default=None, ge=0)


class TelemetryTruncated(ClientMessage):
    """How many entries of each list a page left out of a batch to fit the frame's limits."""

    frames: Int = Field(default=0, ge=0, le=2**53)
    updates: Int = Field(default=0, ge=0, le=2**53)
    visibility: Int = Field(default=0, ge=0, le=2**53)
    focus: Int = Field(default=0, ge=0, le=2**53)

    def left_anything_out(self):
        return any((self.frames, self.updates, self.visibility, self.focus))


class TelemetrySubmit(ClientMessage):
    """What the browser saw during one trial; times are ms after t0 on the browser's clock."""

    type: Literal["telemetry.submit"]
    key: UUID
    trial: Int = Field(ge=0, le=10_000)
    # [seq, receive_ms, paint_ms] per stream.delta message (paint_ms null if never painted).
    frames: list[tuple[Seq, TelemetryMs | None, TelemetryMs | None]] = Field(max_length=50_000)
    # [seq, tokens, frame_ms, presented_ms] per update: `tokens` of message `seq` (the next ones in
    # its order) shown by the frame that began at frame_ms; presented_ms is the conservative
    # presentation estimate (null if the page left before it was taken).
    updates: list[tuple[Seq, TokenCount, TelemetryMs, TelemetryMs | None]] = Field(default_factory=list, max_length=100_000)
    visibility: list[tuple[TelemetryMs, Literal["hidden", "visible"]]] = Field(default_factory=list, max_length=2_000)
    focus: list[tuple[TelemetryMs, Literal["blur", "focus"]]] = Field(default_factory=list, max_length=2_000)
    clock: ClockEstimate | None = None
    frame_ms: Number | None = Field(default=None, gt=0, le=1000)
    reconnects: Int = Field(default=0, ge=0, le=10_000)
    # Set when the page thinned the batch to fit MAX_TELEMETRY_BYTES and the caps above (the latest
    # messages' updates first, then their frames): absent from a batch sent whole.
    truncated: TelemetryTruncated | None = None

    @field_validator("truncated")
    @classmethod
    def no_mark_if_nothing_was_left_out(cls, truncated):
        """`truncated: {}` or every count zero thinned nothing: the batch was sent whole, and is
        taken as one, so nothing downstream (the stored batch, its fidelity summary, the export)
        claims it was thinned."""
        return truncated if truncated is not None and truncated.left_anything_out() else None


ClientFrame = Annotated[Union[TrialStart, RatingSubmit, Ping, TelemetrySubmit], Field(discriminator="type")]
_client_frame = TypeAdapter(ClientFrame)
KNOWN_TYPES = ("trial.start", "rating.submit", "ping", "telemetry.submit")


def frame_bytes(text):
    """The size of a text frame on the wire (UTF-8). A character is 1 to 4 bytes, so only a frame
    longer than a quarter of the limit is encoded to count."""
    return len(text) if len(text) * 4 <= MAX_FRAME_BYTES else len(text.encode("utf-8", "surrogatepass"))


# A keyed message's `key` among a frame's first characters (the page sends `type`, then `key`), so
# that a frame refused as too large before it is parsed still names the message it refuses.
KEY_NEAR_START = re.compile(r'"key"\s*:\s*"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"')
KEY_SEARCH_CHARS = 256


def key_near_start(text):
    """The UUID a frame names as its `key` within its first KEY_SEARCH_CHARS characters, or None."""
    match = KEY_NEAR_START.search(text, 0, KEY_SEARCH_CHARS)
    return match.group(1) if match else None


def parse_client_frame(text, size=None):
    """Parse one text frame from the browser (`size`: its bytes, if known), or raise ProtocolError."""
    if text is None:
        raise ProtocolError("bad_frame", "Only text frames are accepted.")
    too_large = f"Frames are limited to {MAX_FRAME_BYTES} bytes (telemetry: {MAX_TELEMETRY_BYTES})."
    if len(text) > MAX_TELEMETRY_BYTES:  # never fewer bytes than characters: no need to count
        raise ProtocolError("too_large", too_large, key_near_start(text))
    size = frame_bytes(text) if size is None else size
    if size > MAX_TELEMETRY_BYTES:
        raise ProtocolError("too_large", too_large, key_near_start(text))
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "A frame must be a JSON object.")
    if size > MAX_FRAME_BYTES and data.get("type") != "telemetry.submit":
        raise ProtocolError("too_large", f"Frames are limited to {MAX_FRAME_BYTES} bytes.", key_near_start(text))
    ref = data.get("key") if isinstance(data.get("key"), str) else None
    if "\x00" in text or "\\u0000" in text:  # Postgres keeps no NUL in text: refuse it here, not in a worker
        raise ProtocolError("bad_message", "Text may not contain NUL characters (U+0000).", ref if ref and "\x00" not in ref else None)
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


def stream_start_frame(trial, delivery, t0_ms, lookahead_ms, after_seq, resumed, restarted):
    return encode(
        "stream.start",
        seq=0,
        trial=trial,
        delivery=delivery,
        t0_ms=t0_ms,
        lookahead_ms=lookahead_ms,
        after_seq=after_seq,
        resumed=resumed,
        restarted=restarted,
    )


def stream_delta_frame(seq, pane, phase, text, tokens, due_ms, parts=None):
    """A pane's text; ``parts`` ([due_ms, text] per token) when its tokens are due at different times.
    Built as one dict (not through ``encode``): a trial's plan encodes one per message."""
    fields = {"type": "stream.delta", "seq": seq, "pane": pane, "phase": phase, "text": text, "tokens": tokens, "due_ms": due_ms}
    if parts:
        fields["parts"] = parts
    return orjson.dumps(fields).decode()


def stream_done_frame(seq, pane, due_ms):
    return encode("stream.done", seq=seq, pane=pane, due_ms=due_ms)


def stream_message_frame(message):
    """A planned stream message (streaming.delivery.Message) as its wire frame."""
    frame = message.frame
    due_ms = round(frame.due_s * 1000, 3)
    if message.kind == "delta":
        parts = None
        if frame.tokens > 1 and frame.token_due_s:
            parts = [[round(due_s * 1000, 3), text] for due_s, text in zip(frame.token_due_s, frame.token_texts)]
        return stream_delta_frame(message.seq, frame.pane, frame.phase, frame.text, frame.tokens, due_ms, parts)
    return stream_done_frame(message.seq, frame.pane, due_ms)


def stream_end_frame(seq, trial):
    return encode("stream.end", seq=seq, trial=trial)


def stream_interrupted_frame(seq, trial, reason):
    return encode("stream.interrupted", seq=seq, trial=trial, reason=reason)


def rating_stored_frame(key):
    return encode("rating.stored", key=str(key))


def rating_retry_frame(key, reason):
    return encode("rating.retry", key=str(key), reason=reason)


def telemetry_stored_frame(key):
    return encode("telemetry.stored", key=str(key))


def pong_frame(t, server_ms):
    return encode("pong", t=t, server_ms=server_ms)
