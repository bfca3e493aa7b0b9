import asyncio
import json
import statistics
from pathlib import Path

import httpx
import pytest

from tests.streaming.sse_server import FIXTURES
from uxlab.streaming.backends.openai_compat import BackendError, LiveSettings, user_messages
from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.schedule import Token, build_schedule, schedule_stats
from uxlab.streaming.traces import (
    BUILTIN_CADENCES,
    builtin_offsets,
    cadence_stats,
    capture_trace,
    fit_jitter,
    load_offsets,
    replay_schedule,
    retime,
    trace_tokens,
)

# Real H200 decode cadences, shipped with uxlab (copied from the project's shared/traces).
TRACES = Path(__file__).resolve().parents[2] / "uxlab" / "streaming" / "recorded"
BATCH1 = TRACES / "trace_llama8b_shape_h_batch1.json"


def test_it_loads_the_recorded_offsets():
    offsets = load_offsets(BATCH1)
    recorded = json.loads(BATCH1.read_text())
    assert len(offsets) == recorded["tokens"] == 512
    assert offsets[0] == recorded["ttft_s"]
    assert offsets == sorted(offsets)


def test_it_rejects_a_file_without_offsets(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"tokens": 3}))
    with pytest.raises(ValueError):
        load_offsets(path)


def test_it_replays_the_recorded_offsets_exactly():
    offsets = load_offsets(BATCH1)
    tokens = replay_schedule(offsets, " w" * 512)
    assert [t.due_s for t in tokens] == offsets
    assert {t.phase for t in tokens} == {"answer"}
    assert "".join(t.text for t in tokens) == " w" * 512


def test_it_uses_the_first_offsets_for_a_shorter_text():
    offsets = load_offsets(BATCH1)
    tokens = replay_schedule(offsets, "Hello, world!")
    assert [t.text for t in tokens] == ["Hello", ",", " world", "!"]
    assert [t.due_s for t in tokens] == offsets[:4]


def test_it_continues_with_the_median_gap_for_a_longer_text():
    offsets = load_offsets(BATCH1)
    gap = statistics.median(b - a for a, b in zip(offsets, offsets[1:]))
    tokens = replay_schedule(offsets, " w" * 515)
    assert [t.due_s for t in tokens[:512]] == offsets
    assert [t.due_s for t in tokens[512:]] == pytest.approx([offsets[-1] + gap * k for k in (1, 2, 3)])
    assert gap == pytest.approx(0.068, abs=0.001)  # the README's p50 step gap


def test_it_speeds_up_gaps_and_moves_the_first_token():
    offsets = [0.1, 0.3, 0.4, 0.8]
    tokens = replay_schedule(offsets, " a b c d", speed_factor=2.0, ttft_s=1.0)
    assert [t.due_s for t in tokens] == pytest.approx([1.0, 1.1, 1.15, 1.35])
    kept = replay_schedule(offsets, " a b c d", speed_factor=2.0)
    assert [t.due_s for t in kept] == pytest.approx([0.1, 0.2, 0.25, 0.45])


def test_it_rejects_a_non_positive_speed_factor():
    with pytest.raises(ValueError):
        replay_schedule([0.1, 0.2], " a", speed_factor=0)


def test_it_returns_no_tokens_for_empty_text():
    assert replay_schedule([0.1, 0.2], "") == []


# --- Built-in cadences, capture, re-timing, fitting ---------------------------------------------

def test_it_names_the_four_shipped_cadences_and_the_two_synthetic_stall_cadences():
    assert sorted(BUILTIN_CADENCES) == [
        "h200_llama8b_batch1", "h200_llama8b_batch32", "h200_llama8b_batch64", "h200_llama8b_batch8",
        "stall_early_20tps", "stall_late_20tps",
    ]  # fmt: skip
    early, late = builtin_offsets("stall_early_20tps"), builtin_offsets("stall_late_20tps")
    assert len(early) == len(late) and early[0] == late[0] and early[-1] == late[-1]  # same mean speed
    assert list(builtin_offsets("h200_llama8b_batch8")) == load_offsets(TRACES / "trace_llama8b_shape_h_batch8.json")
    with pytest.raises(ValueError, match="unknown built-in cadence"):
        builtin_offsets("h100_batch1")


def capture(fixture_name):
    body = (FIXTURES / fixture_name).read_text()
    ticks = iter(range(100))  # a fake clock: the request at 0, then one second per reading

    def handler(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    settings = LiveSettings(base_url="http://backend.test/v1", model="reasoner")
    return asyncio.run(
        capture_trace(settings, user_messages("Why?"), transport=httpx.MockTransport(handler), clock=lambda: float(next(ticks)))
    )


def test_it_captures_a_live_response_as_a_json_trace():
    trace = capture("deepseek_reasoning_content.sse")

    assert json.loads(json.dumps(trace)) == trace
    assert trace["text"] == "Salt water is denser."
    assert trace["reasoning"] == "Okay, eggs float when water is salty."
    assert [(c["phase"], c["text"]) for c in trace["chunks"]] == [
        ("thinking", "Okay"), ("thinking", ", eggs float when"), ("thinking", " water is salty."),
        ("answer", "Salt water"), ("answer", " is denser."),
    ]  # fmt: skip
    times = [c["t"] for c in trace["chunks"]]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert trace["usage"]["completion_tokens_details"]["reasoning_tokens"] == 12
    assert (trace["finish_reason"], trace["model"]) == ("stop", "reasoner")


def test_it_refuses_to_capture_a_response_without_an_answer():
    with pytest.raises(BackendError) as caught:
        capture("broken_length_empty_answer.sse")
    assert caught.value.code == "empty_answer" and "length" in caught.value.message


def test_it_replays_a_trace_exactly_with_every_token_of_a_chunk_due_at_its_arrival():
    chunks = [{"t": 0.5, "phase": "thinking", "text": "Hmm."}, {"t": 1.25, "phase": "answer", "text": "Hello, world"}]

    tokens = trace_tokens(chunks)

    assert tokens == [
        Token(0.5, "Hmm", "thinking"), Token(0.5, ".", "thinking"),
        Token(1.25, "Hello", "answer"), Token(1.25, ",", "answer"), Token(1.25, " world", "answer"),
    ]  # fmt: skip


def test_it_retimes_to_a_target_speed_and_ttft_keeping_content_and_rhythm():
    tokens = replay_schedule(load_offsets(BATCH1), " w" * 300)

    faster = retime(tokens, tokens_per_second=1800, ttft_s=0.2)

    assert [t.text for t in faster] == [t.text for t in tokens]
    assert faster[0].due_s == 0.2
    assert schedule_stats(faster)["tokens_per_second"] == pytest.approx(1800)
    gaps = [b.due_s - a.due_s for a, b in zip(tokens, tokens[1:])]
    fast_gaps = [b.due_s - a.due_s for a, b in zip(faster, faster[1:])]
    assert [g / f for g, f in zip(gaps, fast_gaps)] == pytest.approx([1800 / schedule_stats(tokens)["tokens_per_second"]] * 299)
    assert retime(tokens, speed_factor=2.0)[-1].due_s == pytest.approx(tokens[0].due_s + (tokens[-1].due_s - tokens[0].due_s) / 2)
    with pytest.raises(ValueError):
        retime(tokens, speed_factor=2.0, tokens_per_second=10)


# Tolerances for a schedule generated from the fitted profile against the recording. The batch-1
# cadence is bimodal (decode steps of ~62 ms and ~100 ms in long runs), which a one-peak jitter
# model with the right mean can match in its median only to about 10%.
FIT_TOLERANCE = {"tokens_per_second": 0.03, "gap_p50_s": 0.12, "gap_p99_s": 0.10}


@pytest.mark.parametrize("name", sorted(name for name in BUILTIN_CADENCES if name.startswith("h200_")))
def test_it_fits_the_synthetic_jitter_model_to_a_recorded_cadence(name):
    offsets = list(builtin_offsets(name))
    recorded = cadence_stats(offsets)

    fit = fit_jitter(offsets)
    print(f"\n{name}: fitted {json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in fit.items()})}")

    assert fit["ttft_s"] == offsets[0]
    synthetic = cadence_stats([t.due_s for t in build_schedule(SyntheticProfile(**fit), " w" * 20000, seed=name)])
    for key, tolerance in FIT_TOLERANCE.items():
        assert synthetic[key] == pytest.approx(recorded[key], rel=tolerance), key


def test_it_finds_the_stall_in_the_batch1_cadence_and_none_in_the_others():
    assert fit_jitter(list(builtin_offsets("h200_llama8b_batch1")))["stall_probability"] == pytest.approx(3 / 511)
    assert fit_jitter(list(builtin_offsets("h200_llama8b_batch8")))["stall_probability"] == 0


def test_it_recovers_the_parameters_of_a_synthetic_cadence():
    profile = SyntheticProfile(ttft_s=0.3, tokens_per_second=40, jitter="gamma", jitter_cv=0.3)
    offsets = [t.due_s for t in build_schedule(profile, " w" * 20000, seed=7)]

    fit = fit_jitter(offsets)

    assert fit["tokens_per_second"] == pytest.approx(40, rel=0.02)
    assert fit["jitter_cv"] == pytest.approx(0.3, abs=0.05)
    assert fit["stall_probability"] == 0
