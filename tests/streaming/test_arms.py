"""One schedule entry point for synthetic and trace arms, and the live relay, from a stimulus spec."""

import asyncio

import httpx
import pytest

from tests.streaming.sse_server import FIXTURES
from uxlab.streaming.arms import intended_schedule, live_events, schedule_for_spec
from uxlab.streaming.backends.openai_compat import BackendError, Chunk
from uxlab.streaming.schedule import Token, schedule_stats
from uxlab.streaming.traces import builtin_offsets

CONTENT = "Because air scatters blue light more than red, the sky looks blue on a clear day."


def synthetic_spec(**profile):
    return {"kind": "synthetic", "profile": profile, "content": CONTENT, "reasoning": "Think.", "seed": "s:A"}


@pytest.mark.parametrize("display", ["hidden", "visible", "none"])
def test_it_reduces_a_synthetic_arms_thinking_phase_to_what_its_display_mode_shows(display):
    spec = synthetic_spec(tokens_per_second=80, ttft_s=0.3, jitter_cv=0.3, thinking_tokens=12, thinking_display=display)

    shown, intended = schedule_for_spec(spec), intended_schedule(spec)
    answer = [token for token in intended if token.phase == "answer"]
    thinking = [token for token in intended if token.phase == "thinking"]

    assert len(thinking) == 12 and "".join(t.text for t in answer) == CONTENT
    expected_thinking = {"visible": thinking, "hidden": [Token(thinking[0].due_s, "", "thinking")], "none": []}[display]
    assert shown == expected_thinking + answer


def test_it_replays_a_builtin_cadence_with_the_prompts_text():
    spec = {"kind": "trace", "profile": {"builtin": "h200_llama8b_batch8"}, "content": CONTENT, "reasoning": "", "seed": "x"}

    tokens = schedule_for_spec(spec)

    assert "".join(t.text for t in tokens) == CONTENT
    assert [t.due_s for t in tokens] == list(builtin_offsets("h200_llama8b_batch8")[: len(tokens)])


def test_it_retimes_a_builtin_cadence_to_a_target_speed_and_ttft():
    spec = {
        "kind": "trace",
        "profile": {"builtin": "h200_llama8b_batch1", "tokens_per_second": 969.0, "ttft_s": 0.24},
        "content": CONTENT * 5,
        "seed": "x",
    }

    stats = schedule_stats(schedule_for_spec(spec))

    assert stats["ttft_s"] == 0.24 and stats["tokens_per_second"] == pytest.approx(969)


RECORDED = {
    "chunks": [
        {"t": 0.4, "phase": "thinking", "text": "Salt makes"},
        {"t": 0.5, "phase": "thinking", "text": " water dense."},
        {"t": 1.0, "phase": "answer", "text": "It floats"},
        {"t": 1.5, "phase": "answer", "text": " in brine."},
    ]
}


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("visible", [(0.4, "Salt", "thinking"), (0.4, " makes", "thinking"), (0.5, " water", "thinking"),
                     (0.5, " dense", "thinking"), (0.5, ".", "thinking")]),
        ("hidden", [(0.4, "", "thinking")]),
        ("none", []),
    ],
)  # fmt: skip
def test_it_replays_a_recorded_trace_with_each_display_mode(display, expected):
    spec = {"kind": "trace", "profile": {"recorded_arm": "live", "thinking_display": display}, "trace": RECORDED, "seed": "x"}

    tokens = schedule_for_spec(spec)

    answer = [Token(1.0, "It", "answer"), Token(1.0, " floats", "answer"), Token(1.5, " in", "answer"),
              Token(1.5, " brine", "answer"), Token(1.5, ".", "answer")]  # fmt: skip
    assert tokens == [Token(*entry) for entry in expected] + answer


def test_it_retimes_a_recorded_trace_keeping_its_text():
    spec = {"kind": "trace", "profile": {"recorded_arm": "live", "speed_factor": 2.0, "ttft_s": 0.1}, "trace": RECORDED}

    tokens = intended_schedule(spec)

    assert [t.due_s for t in tokens] == pytest.approx([0.1, 0.1, 0.15, 0.15, 0.15, 0.4, 0.4, 0.65, 0.65, 0.65])
    assert "".join(t.text for t in tokens) == "Salt makes water dense.It floats in brine."


def test_it_has_no_schedule_for_a_live_arm():
    with pytest.raises(ValueError, match="live_events"):
        schedule_for_spec({"kind": "live", "profile": {}})


def relay(fixture, display, status=200):
    body = (FIXTURES / fixture).read_text()
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, headers={"content-type": "text/event-stream"}, content=body.encode())
    )
    spec = {
        "kind": "live",
        "profile": {"base_url": "http://backend.test/v1", "model": "m", "thinking_display": display},
        "prompt": "Why does an egg float?",
    }

    async def collect():
        return [event async for event in live_events(spec, transport=transport)]

    return asyncio.run(collect())


def test_it_relays_live_thinking_according_to_the_display_mode():
    visible = [e for e in relay("deepseek_reasoning_content.sse", "visible") if isinstance(e, Chunk)]
    hidden = [e for e in relay("deepseek_reasoning_content.sse", "hidden") if isinstance(e, Chunk)]
    none = [e for e in relay("deepseek_reasoning_content.sse", "none") if isinstance(e, Chunk)]

    assert [c.phase for c in visible] == ["thinking"] * 3 + ["answer"] * 2
    assert [(c.phase, c.text) for c in hidden] == [("thinking", ""), ("answer", "Salt water"), ("answer", " is denser.")]
    assert hidden[0].arrival_s <= hidden[1].arrival_s
    assert [c.phase for c in none] == ["answer", "answer"]


def test_it_raises_the_backends_error_from_a_live_relay():
    with pytest.raises(BackendError) as caught:
        relay("broken_midstream_error.sse", "hidden")
    assert caught.value.code == "stream_error"
