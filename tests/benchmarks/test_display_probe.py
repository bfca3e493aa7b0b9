"""The outside probe's arithmetic: tokens counted from the text seen, each at the frame that showed it."""

import pytest

from uxlab.benchmarks.display_probe import measure_pane, pane_tokens
from uxlab.streaming.pacing import coalesce
from uxlab.streaming.schedule import Token

# Four answer tokens due at 100, 110, 120 and 130 ms after t0 (t0 = 1000 on the page's clock).
TOKENS = [(100.0, "ab", "answer"), (110.0, " c", "answer"), (120.0, "é", "answer"), (130.0, "😀", "answer")]
FRAMES = [1000 + 16.7 * k for k in range(20)]


def change(frame, answer_length):
    return ["A", frame, frame + 0.5, answer_length, 0, False]


def test_it_times_each_token_at_the_frame_whose_text_first_held_it():
    # Frames at 1100.2 (ab), 1116.9 (c), 1133.6 (é and 😀: two UTF-16 units).
    changes = [change(FRAMES[6], 2), change(FRAMES[7], 4), change(FRAMES[8], 7)]
    seen = measure_pane(changes, TOKENS, 1000.0, 100.0, frames=FRAMES)
    assert seen["tokens_shown_early"] == 0 and seen["tokens_not_shown"] == 0
    assert seen["displayed_tokens_per_second"] == pytest.approx(3 / (FRAMES[8] - FRAMES[6]) * 1000)
    assert seen["onset_error_ms"] == pytest.approx(FRAMES[6] - 1100)
    assert seen["onset_in_first_frame"] and seen["answer_onset_in_first_frame"]


def test_it_counts_text_that_appears_before_its_due_time_as_early():
    # All four tokens at the first token's frame, as a message shown whole at its first due time.
    seen = measure_pane([change(FRAMES[6], 7)], TOKENS, 1000.0, 100.0, frames=FRAMES)
    assert seen["tokens_shown_early"] == 3
    assert seen["max_early_ms"] == pytest.approx(130 - (FRAMES[6] - 1000))


def test_it_notices_an_onset_a_frame_late_and_tokens_never_shown():
    seen = measure_pane([change(FRAMES[7], 2)], TOKENS, 1000.0, 100.0, frames=FRAMES)
    assert not seen["onset_in_first_frame"]
    assert seen["tokens_not_shown"] == 3 and seen["displayed_tokens_per_second"] is None


def test_it_reads_each_tokens_due_time_and_text_from_the_trials_frames():
    frames = coalesce("A", [Token(0.1, "ab", "answer"), Token(0.105, " c", "answer"), Token(0.2, "d", "answer")])
    assert pane_tokens(frames, "A") == [(100.0, "ab", "answer"), (105.0, " c", "answer"), (200.0, "d", "answer")]
    assert pane_tokens(frames, "B") == []
