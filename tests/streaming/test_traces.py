import json
import statistics
from pathlib import Path

import pytest

from uxlab.streaming.traces import load_offsets, replay_schedule

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
