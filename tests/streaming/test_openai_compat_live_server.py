"""The live backend end to end against a real streaming HTTP server on 127.0.0.1: timing and timeouts."""

import asyncio
import time

import pytest

from tests.streaming.sse_server import ReplayServer, fixture_events
from uxlab.benchmarks.processes import free_port
from uxlab.streaming.backends.openai_compat import BackendError, Chunk, LiveSettings, stream_chat, user_messages


@pytest.fixture
def server():
    server = ReplayServer().start()
    yield server
    server.stop()


def settings_for(server, **timeouts):
    return LiveSettings(base_url=server.base_url, model="m", **timeouts)


def collect(settings):
    async def run():
        return [event async for event in stream_chat(settings, user_messages("Hi?"))]

    return asyncio.run(asyncio.wait_for(run(), 20))


def test_it_times_each_chunk_on_arrival(server):
    server.play(fixture_events("vllm_reasoning.sse"), gap_s=0.1, first_delay_s=0.2)

    events = collect(settings_for(server))

    chunks = [e for e in events if isinstance(e, Chunk)]
    assert "".join(c.text for c in chunks if c.phase == "answer") == "Because air scatters blue light."
    # The role-only event comes 0.2 s after the request, then one event every 0.1 s; chunk k is event
    # k + 1. Each chunk is timed when it arrives: never before the server wrote it (the client's
    # request left before the server read it, so this holds exactly, however loaded the machine)…
    written = [at - server.received_at for at in server.sent_at]
    assert len(written) == 10 and written[1] >= 0.29
    for index, chunk in enumerate(chunks):
        assert chunk.arrival_s >= written[index + 1] - 0.001, (index, chunk.arrival_s, written)
    # … and not when the stream is over: the first is timed before the last event was even written.
    assert chunks[0].arrival_s < written[-1]
    assert [c.arrival_s for c in chunks] == sorted(c.arrival_s for c in chunks)
    assert server.requests[0]["json"]["stream"] is True
    assert server.requests[0]["line"] == "POST /v1/chat/completions HTTP/1.1"


def test_it_waits_through_a_silent_thinking_phase_longer_than_the_inter_chunk_timeout(server):
    events = [": keep-alive\n\n"] * 6 + fixture_events("openai_hidden_reasoning.sse")
    server.play(events, gap_s=0.25, first_delay_s=0.25)

    result = collect(settings_for(server, first_chunk_timeout_s=5, inter_chunk_timeout_s=0.6))

    answer = [e for e in result if isinstance(e, Chunk)]
    assert answer[0].text == "Paris" and answer[0].arrival_s >= 1.7  # 8 events of silence at 0.25 s


def test_it_gives_up_when_no_text_arrives_within_the_first_chunk_timeout(server):
    # Keep-alive comments keep coming, but they do not extend the deadline.
    server.play([": keep-alive\n\n"] * 40 + fixture_events("cerebras_usage.sse"), gap_s=0.1)

    started = time.perf_counter()
    with pytest.raises(BackendError) as caught:
        collect(settings_for(server, first_chunk_timeout_s=0.8, inter_chunk_timeout_s=0.3))

    assert caught.value.code == "first_chunk_timeout"
    assert 0.75 <= time.perf_counter() - started <= 2.0


def test_it_counts_slow_headers_against_the_first_chunk_timeout(server):
    server.play(fixture_events("cerebras_usage.sse"), headers_delay_s=3)

    started = time.perf_counter()
    with pytest.raises(BackendError) as caught:
        collect(settings_for(server, first_chunk_timeout_s=0.5))

    assert caught.value.code == "first_chunk_timeout"
    assert time.perf_counter() - started < 2.0


def test_it_gives_up_when_the_stream_stalls_after_it_started(server):
    events = fixture_events("vllm_reasoning.sse")
    server.script = None
    server.play(events[:3] + events[3:], gap_s=0.05)
    server.script.pieces[3] = (2.0, events[3])  # a 2 s stall after two thinking chunks

    with pytest.raises(BackendError) as caught:
        collect(settings_for(server, first_chunk_timeout_s=5, inter_chunk_timeout_s=0.5))

    assert caught.value.code == "inter_chunk_timeout"


def test_it_reports_a_dropped_connection(server):
    server.play(fixture_events("vllm_reasoning.sse")[:4], complete=False)

    with pytest.raises(BackendError) as caught:
        collect(settings_for(server))

    assert caught.value.code == "network_error"


def test_it_reports_an_http_error_body_from_a_real_server(server):
    server.play([fixture_events("broken_error_body.json")[0]], status=404, content_type="application/json")

    with pytest.raises(BackendError) as caught:
        collect(settings_for(server))

    assert (caught.value.code, caught.value.status) == ("request_rejected", 404)
    assert "does not exist" in caught.value.message


def test_it_reports_a_server_that_is_not_there():
    settings = LiveSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", connect_timeout_s=2)

    with pytest.raises(BackendError) as caught:
        collect(settings)

    assert caught.value.code == "connect_failed"
