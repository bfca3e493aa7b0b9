"""run_live_trial keeps each live pane's whole response on the server (framework-free, one httpx seam)."""

import asyncio
import contextlib
import itertools
import time
from pathlib import Path

import httpx
import pytest

from uxlab.streaming.arms import live_events
from uxlab.streaming.backends.openai_compat import BackendError
from uxlab.streaming.live import run_live_trial

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run(fixture, display="hidden", slot=None, partner=None, responses=None, emitted=None):
    body = (FIXTURES / fixture).read_text()
    emitted = [] if emitted is None else emitted
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())
    )
    spec = {
        "kind": "live",
        "profile": {"base_url": "http://backend.test/v1", "model": "m", "thinking_display": display},
        "prompt": "Why does an egg float?",
    }
    panes = {"A": spec, "B": partner or {"kind": "synthetic", "profile": {"ttft_s": 0.0, "tokens_per_second": 1000},
                                          "content": "Paced.", "reasoning": "", "seed": "s:B"}}
    sent, counter = [], itertools.count(1)
    responses = {} if responses is None else responses

    async def emit(pane, kind, phase, text, tokens, at_s, parts=None):
        seq = next(counter)
        sent.append((seq, pane, kind, phase, text))
        emitted.append((seq, pane, kind, text, tokens, at_s, parts))
        return seq

    async def events(spec):
        async for event in live_events(spec, transport=transport):
            yield event

    options = {"slot": slot} if slot else {}

    async def main():
        clock = asyncio.get_running_loop().time
        await run_live_trial(panes, emit, clock=clock, sleep=asyncio.sleep, events=events, responses=responses, **options)

    asyncio.run(main())
    return sent, responses


def test_it_keeps_a_live_panes_hidden_reasoning_on_the_server_and_sends_only_a_marker():
    sent, responses = run("deepseek_reasoning_content.sse", "hidden")
    record = responses["A"].as_dict()

    assert record["text"] == "Salt water is denser." and record["reasoning"]
    assert not any(record["reasoning"] in text or "Okay" in text for _seq, _pane, _kind, _phase, text in sent)
    assert [(phase, text) for _seq, pane, kind, phase, text in sent if pane == "A" and kind == "delta"] == [
        ("thinking", ""), ("answer", "Salt water"), ("answer", " is denser.")]
    shown = {seq: text for seq, pane, kind, _phase, text in sent if pane == "A"}
    for t_s, phase, text, tokens, seq in record["chunks"]:
        assert (seq is None) == (phase == "thinking") and (seq is None or shown[seq] == text)
    arrivals = [chunk[0] for chunk in record["chunks"]]
    assert arrivals == sorted(arrivals) and record["ttft_s"] == arrivals[-2]
    assert record["finish_reason"] == "stop" and record["failure"] == ""


def test_it_keeps_a_live_panes_usage_and_finish_reason_length():
    _sent, responses = run("broken_length_empty_answer.sse", "visible")
    record = responses["A"].as_dict()
    assert record["finish_reason"] == "length" and record["text"] == "" and record["reasoning"]


def test_it_records_a_live_failure_and_stops_the_partner_pane():
    partner = {"kind": "synthetic", "profile": {"ttft_s": 30.0, "tokens_per_second": 10}, "content": "Slow.",
               "reasoning": "", "seed": "s:B"}
    responses, started = {}, time.monotonic()
    with pytest.raises(BackendError) as caught:
        run("broken_midstream_error.sse", partner=partner, responses=responses)
    assert caught.value.code == "stream_error" and responses["A"].failure == "stream_error"
    assert responses["A"].text()  # what arrived before the failure is kept
    # The partner (30 s until its first token) was stopped, not waited for.
    assert time.monotonic() - started < 5


def test_it_records_the_live_usage_the_backend_reported():
    _sent, responses = run("cerebras_usage.sse", "visible")
    usage = responses["A"].as_dict()["usage"]
    assert usage and usage["completion_tokens"] > 0


def test_it_runs_a_live_pane_inside_its_arms_slot_and_records_the_concurrency():
    entered = []

    @contextlib.asynccontextmanager
    async def slot(pane, spec):
        entered.append(pane)
        yield 3, 0.25

    _sent, responses = run("deepseek_reasoning_content.sse", slot=slot)
    record = responses["A"].as_dict()
    assert entered == ["A"] and record["in_flight"] == 3 and record["queued_s"] == 0.25


def test_it_records_a_live_arm_refused_by_its_slot_as_the_panes_failure():
    @contextlib.asynccontextmanager
    async def slot(pane, spec):
        raise BackendError("arm_busy", "full")
        yield

    responses = {}
    with pytest.raises(BackendError):
        run("deepseek_reasoning_content.sse", slot=slot, responses=responses)
    assert responses["A"].failure == "arm_busy" and responses["A"].chunks == []


def test_it_gives_a_live_trials_scheduled_pane_each_tokens_due_time_as_a_synthetic_trial_does():
    from uxlab.streaming.trial import trial_frames

    partner = {"kind": "synthetic", "profile": {"ttft_s": 0.05, "tokens_per_second": 600},
               "content": "A paced answer of a good many words, several of them due in every frame. " * 3,
               "reasoning": "", "seed": "s:B"}
    emitted = []
    run("deepseek_reasoning_content.sse", partner=partner, emitted=emitted)

    paced = [(text, tokens, at_s, parts) for _seq, pane, kind, text, tokens, at_s, parts in emitted
             if pane == "B" and kind == "delta"]
    assert sum(tokens for _, tokens, _, _ in paced) > len(paced)  # frames of several tokens
    for text, tokens, at_s, parts in paced:
        if tokens == 1:
            assert parts is None
            continue
        assert len(parts) == tokens and "".join(part for _, part in parts) == text
        dues = [due_s for due_s, _ in parts]
        assert dues[0] == at_s and dues == sorted(dues) and dues[-1] > dues[0]
    # The same due times a synthetic trial's frames carry for this pane.
    frames = trial_frames({"A": partner, "B": partner})
    expected = [due for frame in frames if frame.pane == "B" and frame.tokens for due in frame.token_dues()]
    assert [due for _, tokens, at_s, parts in paced for due in ([at_s] if parts is None else [d for d, _ in parts])] == expected
