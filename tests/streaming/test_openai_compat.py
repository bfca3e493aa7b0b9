"""SSE parsing of recorded real-format streams of each dialect, through httpx's MockTransport seam."""

import asyncio
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.streaming.sse_server import FIXTURES
from uxlab.streaming.backends.openai_compat import (
    ERROR_CODES,
    BackendError,
    Chunk,
    LiveSettings,
    SSEParser,
    ThinkTagSplitter,
    split_events,
    stream_chat,
    user_messages,
)

SETTINGS = LiveSettings(base_url="http://backend.test/v1", model="m")


def transport_for(body, status=200, content_type="text/event-stream", pieces=None, seen=None):
    """A transport answering with ``body``, optionally cut into network pieces of the given sizes."""

    async def stream():
        data, start = body.encode(), 0
        for size in pieces or [len(body.encode())]:
            yield data[start : start + size]
            start += size
        if start < len(data):
            yield data[start:]

    def handler(request):
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, headers={"content-type": content_type}, content=stream())

    return httpx.MockTransport(handler)


def run(body, settings=SETTINGS, **options):
    async def collect():
        return [event async for event in stream_chat(settings, user_messages("Hi?"), transport=transport_for(body, **options))]

    return asyncio.run(collect())


def fixture(name):
    return (FIXTURES / name).read_text()


def texts(events, phase):
    return "".join(e.text for e in events if isinstance(e, Chunk) and e.phase == phase)


def error_of(body, **options):
    with pytest.raises(BackendError) as caught:
        run(body, **options)
    assert caught.value.code in ERROR_CODES
    return caught.value


# --- Dialects ------------------------------------------------------------------------------------


def test_it_reads_vllm_reasoning_and_a_usage_chunk_with_empty_choices():
    events = run(fixture("vllm_reasoning.sse"))

    assert texts(events, "thinking") == "The user asks about the sky."
    assert texts(events, "answer") == "Because air scatters blue light."
    chunks, usage, finish = split_events(events)
    assert [c.phase for c in chunks] == ["thinking"] * 3 + ["answer"] * 3  # the role-only chunk yields nothing
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (14, 12, None)
    assert finish.reason == "stop"


def test_it_reads_deepseek_reasoning_content_past_keep_alive_comments():
    events = run(fixture("deepseek_reasoning_content.sse"))

    assert texts(events, "thinking") == "Okay, eggs float when water is salty."
    assert texts(events, "answer") == "Salt water is denser."
    _chunks, usage, finish = split_events(events)
    assert usage.reasoning_tokens == 12 and usage.completion_tokens == 19  # usage beside the finish
    assert finish.reason == "stop"


def test_it_splits_think_tags_cut_across_chunks_and_reads_data_without_a_space():
    events = run(fixture("raw_think_tags.sse"))

    assert texts(events, "thinking") == "\nA piano has keys.\n"
    assert texts(events, "answer") == "\n\nA piano."
    assert "<" not in texts(events, "answer") + texts(events, "thinking")
    assert split_events(events)[1].completion_tokens == 17


def test_it_reports_hidden_reasoning_only_as_a_token_count():
    events = run(fixture("openai_hidden_reasoning.sse"))

    assert texts(events, "thinking") == ""
    assert texts(events, "answer") == "Paris is the capital."
    usage = split_events(events)[1]
    assert (usage.reasoning_tokens, usage.completion_tokens, usage.prompt_tokens) == (192, 205, 12)
    assert usage.raw["completion_tokens_details"]["reasoning_tokens"] == 192


def test_it_reads_cerebras_usage_in_the_finishing_chunk():
    events = run(fixture("cerebras_usage.sse"))

    assert texts(events, "answer") == "Hello there, nice to meet you."
    assert [type(e).__name__ for e in events] == ["Chunk", "Chunk", "Finish", "Usage"]
    assert events[-1].completion_tokens == 8


def test_it_reads_groqs_usage_under_x_groq():
    events = run(fixture("groq_x_groq_usage.sse"))

    assert texts(events, "answer") == "Fast answer."
    assert split_events(events)[1].completion_tokens == 3


def test_it_reads_reasoning_after_processing_comments_and_usage_with_null_choices():
    events = run(fixture("keepalive_comments.sse"))

    assert texts(events, "thinking") == "Count the letters."
    assert texts(events, "answer") == "Three."
    assert split_events(events)[1].completion_tokens == 40


def test_it_accepts_a_stream_without_usage():
    events = run(fixture("ollama_no_usage.sse"))

    chunks, usage, finish = split_events(events)
    assert texts(events, "answer") == "Hi!" and usage is None and finish.reason == "stop"


def test_it_reports_length_with_an_empty_answer():
    events = run(fixture("broken_length_empty_answer.sse"))

    assert texts(events, "thinking") == "Let me think step by step about"
    assert texts(events, "answer") == ""
    assert split_events(events)[2].reason == "length"


@pytest.mark.parametrize(
    "name",
    ["vllm_reasoning.sse", "deepseek_reasoning_content.sse", "raw_think_tags.sse", "keepalive_comments.sse"],
)
@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=200))
def test_it_gives_the_same_events_however_the_network_cuts_the_bytes(name, cuts):
    def shape(events):
        return [(type(e).__name__, getattr(e, "phase", None), getattr(e, "text", None)) for e in events]

    assert shape(run(fixture(name), pieces=cuts)) == shape(run(fixture(name)))


def test_it_accepts_crlf_line_endings():
    events = run(fixture("vllm_reasoning.sse").replace("\n", "\r\n"))

    assert texts(events, "answer") == "Because air scatters blue light."


def test_it_accepts_a_server_that_answers_without_streaming():
    body = json.dumps(
        {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Whole answer."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }
    )
    events = run(body, content_type="application/json")

    assert texts(events, "answer") == "Whole answer." and split_events(events)[2].reason == "stop"


# --- Broken streams ------------------------------------------------------------------------------


def test_it_rejects_a_truncated_stream():
    error = error_of(fixture("broken_truncated.sse"))

    assert error.code == "truncated"


def test_it_raises_a_mid_stream_error_object():
    error = error_of(fixture("broken_midstream_error.sse"))

    assert error.code == "stream_error"
    assert error.message == "The server had an error while processing your request."


def test_it_raises_an_error_event():
    error = error_of(fixture("broken_event_error.sse"))

    assert (error.code, error.message) == ("stream_error", "Overloaded")


@pytest.mark.parametrize(
    ("status", "code"), [(400, "request_rejected"), (401, "auth_failed"), (404, "request_rejected"), (429, "rate_limited"), (503, "server_error")]
)
def test_it_raises_the_error_body_sent_before_streaming(status, code):
    error = error_of(fixture("broken_error_body.json"), status=status, content_type="application/json")

    assert (error.code, error.status) == (code, status)
    assert error.message == f"HTTP {status}: The model `gpt-9` does not exist or you do not have access to it."


def test_it_rejects_a_data_line_that_is_not_json():
    error = error_of('data: {"choices": [\n\n')

    assert error.code == "bad_chunk"


# --- Request and key ------------------------------------------------------------------------------


def test_it_sends_a_streaming_request_with_usage_and_the_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("UXLAB_KEY_TEST", "sk-secret-123")
    seen = []
    settings = LiveSettings(base_url="http://backend.test", model="m1", api_key_env="UXLAB_KEY_TEST", max_tokens=77, temperature=0.3)

    async def collect():
        transport = transport_for(fixture("cerebras_usage.sse"), seen=seen)
        return [e async for e in stream_chat(settings, user_messages("Hi?"), transport=transport)]

    asyncio.run(collect())

    request = seen[0]
    assert str(request.url) == "http://backend.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-secret-123"
    assert json.loads(request.content) == {
        "model": "m1",
        "messages": [{"role": "user", "content": "Hi?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 77,
        "temperature": 0.3,
    }
    assert "sk-secret" not in repr(settings)


def test_it_refuses_to_call_without_the_named_key(monkeypatch):
    monkeypatch.delenv("UXLAB_KEY_TEST", raising=False)
    settings = LiveSettings(base_url="http://backend.test/v1", model="m", api_key_env="UXLAB_KEY_TEST")

    error = error_of(fixture("cerebras_usage.sse"), settings=settings)

    assert error.code == "missing_api_key" and "UXLAB_KEY_TEST" in error.message


# --- Parser units ---------------------------------------------------------------------------------


def test_it_parses_sse_fields_comments_and_multi_line_data():
    parser = SSEParser()
    events = [parser.feed(line) for line in [": ping", "event:error", "data:{\"a\":", "data: 1}", "", ""]]

    assert [e for e in events if e] == [type(events[4])("error", '{"a":\n1}')]


@given(text=st.text(alphabet="ab<>/thinkTHINK ", max_size=60), cuts=st.lists(st.integers(1, 9), max_size=30))
def test_it_splits_think_tags_the_same_wherever_the_text_is_cut(text, cuts):
    def split(pieces):
        splitter, out = ThinkTagSplitter(), []
        for piece in pieces:
            out += splitter.feed(piece)
        out += splitter.flush()
        merged = []
        for phase, part in out:
            if merged and merged[-1][0] == phase:
                merged[-1] = (phase, merged[-1][1] + part)
            else:
                merged.append((phase, part))
        return merged

    pieces, start = [], 0
    for size in cuts:
        pieces.append(text[start : start + size])
        start += size
    pieces.append(text[start:])

    assert split(pieces) == split([text])
    for phase, part in split([text]):
        assert ("<think>" if phase == "answer" else "</think>") not in part
