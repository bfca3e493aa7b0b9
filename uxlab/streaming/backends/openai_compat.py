"""Stream ``/v1/chat/completions`` from any OpenAI-compatible server and yield typed events.

Handles the dialects listed under "OpenAI-compatible streaming" in the project's reference notes:
``data:`` lines with or without a space, ``:`` keep-alive comments, ``[DONE]``, a role-only first
chunk, a usage chunk whose ``choices`` is ``[]``, ``null`` or absent (and Groq's ``x_groq.usage``),
reasoning in ``delta.reasoning`` (vLLM, Cerebras), ``delta.reasoning_content`` (DeepSeek, older
vLLM) or ``<think>…</think>`` inside the content (split anywhere across chunks), hidden reasoning
reported only as ``usage.completion_tokens_details.reasoning_tokens`` (OpenAI),
``finish_reason: "length"`` with an empty answer, a JSON error body before streaming, and
``{"error": …}`` or ``event: error`` in the middle of a stream.

Timeouts are separate, so a long silent thinking phase is not killed by a short read timeout:
``connect_timeout_s`` for the TCP/TLS connection, ``first_chunk_timeout_s`` from the request to
the first chunk carrying text, then ``inter_chunk_timeout_s`` between data events. Keep-alive
comments never extend either deadline.

The API key is read from the environment variable the arm names, at call time; it is never
stored, logged or put in an error message.
"""

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field

import httpx

from uxlab.streaming.backends.egress import EgressPolicy, EgressRefused, check_key_host, check_key_name, check_url
from uxlab.streaming.backends.pinned import PinnedNetworkBackend, PinnedTransport

THINKING = "thinking"
ANSWER = "answer"

# Stable error codes (BackendError.code); docs/study-format.md lists them for researchers.
ERROR_CODES = {
    "missing_api_key": "the environment variable named by api_key_env is not set",
    "key_not_allowed": (
        "api_key_env names a variable outside the allowlist (UXLAB_KEY_* or UXLAB_LIVE_KEY_NAMES), "
        "or one not bound to base_url's host (UXLAB_KEY_HOSTS)"
    ),
    "address_refused": "base_url's host resolves to a non-public address not in UXLAB_LIVE_ALLOWED_HOSTS",
    "redirected": "the server answered with a redirect (never followed)",
    "connect_failed": "the server could not be reached",
    "connect_timeout": "connecting took longer than connect_timeout_s",
    "first_chunk_timeout": "no text arrived within first_chunk_timeout_s of the request",
    "inter_chunk_timeout": "the stream stalled for longer than inter_chunk_timeout_s",
    "auth_failed": "HTTP 401/403 before streaming (wrong or missing key)",
    "rate_limited": "HTTP 429 before streaming",
    "request_rejected": "another HTTP 4xx before streaming (bad model name, bad parameters, ...)",
    "server_error": "HTTP 5xx before streaming",
    "stream_error": "the server reported an error in the middle of the stream",
    "bad_chunk": "a data line was not valid JSON",
    "truncated": "the stream ended without [DONE] or a finish_reason",
    "network_error": "the connection broke while streaming",
    "empty_answer": "the response had no answer text (e.g. finish_reason length while thinking)",
}


class BackendError(Exception):
    """A live backend that failed; ``code`` is one of ERROR_CODES, ``status`` the HTTP status if any."""

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Chunk:
    """Text of one phase that arrived ``arrival_s`` seconds after the request was sent."""

    arrival_s: float
    phase: str
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts the server reported; ``reasoning_tokens`` also counts reasoning it kept hidden."""

    arrival_s: float
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None
    raw: dict = field(compare=False)


@dataclass(frozen=True, slots=True)
class Finish:
    """The model stopped: ``reason`` is the server's finish_reason ("stop", "length", ...)."""

    arrival_s: float
    reason: str


@dataclass(frozen=True)
class LiveSettings:
    """Where and how to call a live backend (the parameters of a ``kind: live`` arm)."""

    base_url: str
    model: str
    api_key_env: str = ""
    max_tokens: int = 1024
    temperature: float | None = None
    connect_timeout_s: float = 10.0
    first_chunk_timeout_s: float = 300.0
    inter_chunk_timeout_s: float = 60.0

    @property
    def url(self) -> str:
        """``base_url`` may end in ``/v1`` or not (both are common in provider docs)."""
        base = self.base_url.rstrip("/")
        return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"

    def request_body(self, messages: list[dict]) -> dict:
        body = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": self.max_tokens,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        return body

    def headers(self, policy: EgressPolicy | None = None) -> dict:
        headers = {"Accept": "text/event-stream"}
        if self.api_key_env:
            try:
                check_key_name(self.api_key_env, policy)
                check_key_host(self.api_key_env, self.url, policy)
            except EgressRefused as exc:
                raise BackendError("key_not_allowed", str(exc)) from None
            key = os.environ.get(self.api_key_env, "")
            if not key:
                raise BackendError("missing_api_key", f"environment variable {self.api_key_env} is not set")
            headers["Authorization"] = f"Bearer {key}"
        return headers


# --- Server-sent events --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


class SSEParser:
    """Incremental SSE parser: feed it lines (without their line break), get complete events.

    Follows the SSE rules that matter here: ``field:value`` with one optional space after the
    colon, lines starting with ``:`` are comments, a blank line ends an event, several ``data``
    lines are joined with newlines. ``finish`` flushes an event the stream did not close.
    """

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None  # id and retry are irrelevant to a one-shot completion stream

    def finish(self) -> SSEEvent | None:
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and not self._event:
            return None
        event = SSEEvent(self._event or "message", "\n".join(self._data))
        self._event, self._data = "", []
        return event


def event_payloads(event: SSEEvent) -> Iterator[dict | str]:
    """The JSON objects (or the string "[DONE]") an event carries.

    A server that forgets the blank line between events makes several ``data`` lines run
    together; when the joined text is not JSON, each line is tried on its own.
    """
    text = event.data.strip()
    if text == "[DONE]":
        yield "[DONE]"
        return
    if not text:
        return
    try:
        yield json.loads(text)
        return
    except json.JSONDecodeError:
        pass
    lines = [line.strip() for line in event.data.split("\n") if line.strip()]
    if len(lines) < 2:
        raise BackendError("bad_chunk", f"not JSON: {text[:200]!r}")
    for line in lines:
        yield from event_payloads(SSEEvent(event.event, line))


class ThinkTagSplitter:
    """Split content into thinking and answer text at ``<think>`` and ``</think>`` tags.

    Tags can be cut anywhere across chunks, so a tail that could be the start of a tag is held
    back until the next piece (or ``flush``) shows what it is.
    """

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self.phase = ANSWER
        self._pending = ""

    def feed(self, text: str) -> list[tuple[str, str]]:
        self._pending += text
        pieces: list[tuple[str, str]] = []
        while True:
            tag = self.CLOSE if self.phase == THINKING else self.OPEN
            index = self._pending.find(tag)
            if index < 0:
                break
            if index:
                pieces.append((self.phase, self._pending[:index]))
            self._pending = self._pending[index + len(tag) :]
            self.phase = ANSWER if self.phase == THINKING else THINKING
        keep = _partial_tag_suffix(self._pending, self.CLOSE if self.phase == THINKING else self.OPEN)
        ready = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(self._pending) - keep :]
        if ready:
            pieces.append((self.phase, ready))
        return pieces

    def flush(self) -> list[tuple[str, str]]:
        text, self._pending = self._pending, ""
        return [(self.phase, text)] if text else []


def _partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``tag``."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0


class ChunkDecoder:
    """Turn the JSON payloads of a stream into Chunk / Usage / Finish events (no I/O)."""

    def __init__(self) -> None:
        self.tags = ThinkTagSplitter()
        self.finish_reason: str | None = None
        self.done = False
        self.usage_seen = False

    def decode(self, event: SSEEvent, arrival_s: float) -> list:
        if event.event == "error":
            raise BackendError("stream_error", _error_message(_loads_or_text(event.data)))
        events = []
        for payload in event_payloads(event):
            if payload == "[DONE]":
                self.done = True
                continue
            events.extend(self._decode_payload(payload, arrival_s))
        return events

    def _decode_payload(self, payload, arrival_s: float) -> list:
        if not isinstance(payload, dict):
            raise BackendError("bad_chunk", f"expected a JSON object, got {type(payload).__name__}")
        if payload.get("error"):
            raise BackendError("stream_error", _error_message(payload))
        events = []
        choices = payload.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        delta = choice.get("delta") or choice.get("message") or {}
        reasoning = delta.get("reasoning") or delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            events.append(Chunk(arrival_s, THINKING, reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            events.extend(Chunk(arrival_s, phase, text) for phase, text in self.tags.feed(content))
        reason = choice.get("finish_reason")
        if reason:
            events.extend(Chunk(arrival_s, phase, text) for phase, text in self.tags.flush())
            self.finish_reason = reason
            events.append(Finish(arrival_s, reason))
        usage = payload.get("usage") or (payload.get("x_groq") or {}).get("usage")
        if isinstance(usage, dict) and not self.usage_seen:
            self.usage_seen = True
            events.append(_usage(usage, arrival_s))
        return events

    def end(self, arrival_s: float) -> list:
        """What is left when the body ends; a stream with neither [DONE] nor a finish is truncated."""
        if not self.done and self.finish_reason is None:
            raise BackendError("truncated", "the stream ended without [DONE] or a finish_reason")
        return [Chunk(arrival_s, phase, text) for phase, text in self.tags.flush()]


def _usage(usage: dict, arrival_s: float) -> Usage:
    details = usage.get("completion_tokens_details") or {}
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return Usage(
        arrival_s=arrival_s,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning_tokens=reasoning,
        raw=usage,
    )


def _loads_or_text(text: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text


def _error_message(body) -> str:
    """The readable part of the many shapes of error body ({"error": {"message"}}, {"detail"}, ...)."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("msg")
            if message:
                return str(message)[:500]
            return json.dumps(error)[:500]
        if error:
            return str(error)[:500]
        if body.get("detail"):
            return str(body["detail"])[:500]
    return str(body)[:500] or "no details"


def _status_error(status: int, body: bytes) -> BackendError:
    message = f"HTTP {status}: {_error_message(_loads_or_text(body.decode('utf-8', 'replace')))}"
    if status in (401, 403):
        code = "auth_failed"
    elif status == 429:
        code = "rate_limited"
    elif status >= 500:
        code = "server_error"
    else:
        code = "request_rejected"
    return BackendError(code, message, status=status)


# --- The streaming call --------------------------------------------------------------------------


async def stream_chat(
    settings: LiveSettings,
    messages: list[dict],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.perf_counter,
    policy: EgressPolicy | None = None,
) -> AsyncIterator[Chunk | Usage | Finish]:
    """Yield the events of one streamed completion, each timed from the moment the request is sent.

    Raises BackendError (never an httpx exception) on any failure. ``transport`` is the test seam
    (with one, the host is checked but not resolved). ``policy``: the egress policy (egress.py),
    by default the configured one. Without a transport the connection resolves the host, checks
    every address and connects to a checked one (pinned.py): DNS is asked once per connection.
    """
    headers = settings.headers(policy)
    try:
        check_url(settings.url, policy, resolve=False)
    except EgressRefused as exc:
        raise BackendError("address_refused", str(exc)) from None
    if transport is None:
        transport = PinnedTransport(PinnedNetworkBackend(policy))
    timeout = httpx.Timeout(
        connect=settings.connect_timeout_s, read=None, write=settings.connect_timeout_s, pool=settings.connect_timeout_s
    )
    # Redirects are never followed: a public host could send the request (and its key) inside.
    async with httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False) as client:
        request = client.build_request("POST", settings.url, json=settings.request_body(messages), headers=headers)
        t0 = clock()
        deadline = t0 + settings.first_chunk_timeout_s
        try:
            response = await _within(client.send(request, stream=True), deadline, clock, "first_chunk_timeout")
        except httpx.ConnectTimeout:
            raise BackendError("connect_timeout", f"no connection within {settings.connect_timeout_s} s") from None
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            raise BackendError("connect_failed", f"cannot connect: {type(exc).__name__}") from None
        except EgressRefused as exc:  # the connection's own check of the address it was about to use
            raise BackendError("address_refused", str(exc)) from None
        except httpx.HTTPError as exc:
            raise BackendError("network_error", type(exc).__name__) from None
        try:
            if 300 <= response.status_code < 400:
                raise BackendError("redirected", f"HTTP {response.status_code} redirect refused", response.status_code)
            if response.status_code >= 400:
                body = await _within(response.aread(), deadline, clock, "first_chunk_timeout")
                raise _status_error(response.status_code, body)
            content_type = response.headers.get("content-type", "")
            if content_type.startswith("application/json"):
                # The server ignored stream=true and answered in one piece.
                body = await _within(response.aread(), deadline, clock, "first_chunk_timeout")
                decoder = ChunkDecoder()
                for event in decoder.decode(SSEEvent("message", body.decode("utf-8", "replace")), clock() - t0):
                    yield event
                for event in decoder.end(clock() - t0):
                    yield event
                return
            async for event in _stream_events(response, settings, t0, clock):
                yield event
        except httpx.HTTPError as exc:
            raise BackendError("network_error", f"the connection broke: {type(exc).__name__}") from None
        finally:
            await response.aclose()


async def _stream_events(response, settings, t0, clock):
    parser = SSEParser()
    decoder = ChunkDecoder()
    lines = response.aiter_lines().__aiter__()
    deadline, timeout_code = t0 + settings.first_chunk_timeout_s, "first_chunk_timeout"
    while True:
        try:
            line = await _within(lines.__anext__(), deadline, clock, timeout_code)
        except StopAsyncIteration:
            break
        event = parser.feed(line.rstrip("\r"))
        if event is None:
            continue
        now = clock()
        decoded = decoder.decode(event, now - t0)
        for item in decoded:
            yield item
        if any(isinstance(item, Chunk) for item in decoded):
            deadline, timeout_code = now + settings.inter_chunk_timeout_s, "inter_chunk_timeout"
        elif timeout_code == "inter_chunk_timeout":
            deadline = now + settings.inter_chunk_timeout_s
        if decoder.done:
            break
    now = clock()
    tail = parser.finish()
    if tail is not None:
        for item in decoder.decode(tail, now - t0):
            yield item
    for item in decoder.end(now - t0):
        yield item


async def _within(awaitable, deadline, clock, code):
    """Await with a deadline on ``clock``; on expiry raise BackendError(code). asyncio.timeout, not
    wait_for: on Python 3.11 wait_for can lose the cancellation of a participant who left
    (CPython issue 86296), and the stream would go on reading the backend."""
    remaining = deadline - clock()
    if remaining <= 0:  # as wait_for did: a deadline already passed runs nothing, ready or not
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise BackendError(code, f"nothing arrived in time ({code.replace('_', ' ')})")
    try:
        async with asyncio.timeout(remaining):
            return await awaitable
    except TimeoutError:
        raise BackendError(code, f"nothing arrived in time ({code.replace('_', ' ')})") from None


def user_messages(prompt: str, system: str = "") -> list[dict]:
    """The chat messages for one prompt (and an optional system message)."""
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt}]


def split_events(events: Iterable) -> tuple[list[Chunk], Usage | None, Finish | None]:
    """Chunks, the usage (if any) and the finish (if any) of a finished stream's events."""
    chunks = [e for e in events if isinstance(e, Chunk)]
    usage = next((e for e in events if isinstance(e, Usage)), None)
    finish = next((e for e in events if isinstance(e, Finish)), None)
    return chunks, usage, finish
