import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uxlab.streaming.pacing import FRAME_S, Frame, Pacer, coalesce, merge_panes
from uxlab.streaming.profiles import SyntheticProfile
from uxlab.streaming.schedule import Token, build_schedule


class FakeClock:
    """Time that only moves when the code under test sleeps (or a test says so)."""

    def __init__(self, now=100.0):
        self.now = now
        self.sleeps = []

    def clock(self):
        return self.now

    async def sleep(self, delay):
        self.sleeps.append(delay)
        self.now += delay


def answer(*dues):
    return [Token(d, f"<{i}>", "answer") for i, d in enumerate(dues)]


def run_pacer(frames, clock, **kwargs):
    sent = []

    async def send(frame):
        sent.append((clock.now, frame))

    pacer = Pacer(frames, clock.clock, clock.sleep)
    asyncio.run(pacer.run(send, **kwargs))
    return pacer, sent


def test_it_merges_tokens_due_within_one_frame():
    frames = coalesce("a", answer(0.5, 0.51, 0.516, 0.5167, 0.54))
    assert [(f.due_s, f.text, f.tokens) for f in frames] == [
        (0.5, "<0><1><2>", 3),
        (0.5167, "<3>", 1),
        (0.54, "<4>", 1),
    ]
    assert [f.last for f in frames] == [False, False, True]
    assert {f.pane for f in frames} == {"a"}


def test_it_measures_windows_from_the_panes_own_first_token():
    # On a global 60 Hz grid from 0, 0.010 and 0.020 would be in different frames; from this
    # pane's first token (0.010) they share window 0 and 0.0267 starts window 1.
    frames = coalesce("b", answer(0.010, 0.020, 0.0267))
    assert [(f.due_s, f.tokens) for f in frames] == [(0.010, 2), (0.0267, 1)]


def test_it_starts_a_new_frame_when_the_phase_changes():
    tokens = [Token(1.0, "", "thinking"), Token(1.001, "", "thinking"), Token(1.002, "Hi", "answer")]
    frames = coalesce("a", tokens)
    assert [(f.phase, f.tokens, f.text) for f in frames] == [("thinking", 2, ""), ("answer", 1, "Hi")]


def test_it_gives_one_empty_last_frame_for_no_tokens():
    assert coalesce("a", []) == [Frame("a", 0.0, "", "answer", 0, True)]


@given(
    st.lists(st.floats(0, 0.5), min_size=1, max_size=60).map(sorted),
    st.sampled_from([FRAME_S, 0.05]),
)
def test_it_keeps_every_token_and_every_frame_within_one_window(dues, frame_s):
    tokens = answer(*dues)
    frames = coalesce("p", tokens, frame_s)
    assert "".join(f.text for f in frames) == "".join(t.text for t in tokens)
    assert sum(f.tokens for f in frames) == len(tokens)
    assert [f.last for f in frames] == [False] * (len(frames) - 1) + [True]
    i = 0
    for frame in frames:
        group = tokens[i : i + frame.tokens]
        i += frame.tokens
        assert frame.due_s == group[0].due_s
        assert group[-1].due_s - group[0].due_s < frame_s
    # Consecutive frames of one phase fall in different windows, so they are not merge-able.
    assert len(frames) == len({int((d - dues[0]) / frame_s + 1e-9) for d in dues})


def test_it_sends_each_frame_exactly_at_its_due_time_with_a_fake_clock():
    frames = coalesce("a", answer(0.5, 0.6, 0.6001, 1.25))
    clock = FakeClock(now=100.0)
    pacer, sent = run_pacer(frames, clock)
    assert pacer.t0 == 100.0
    assert [t for t, _ in sent] == pytest.approx([100.5, 100.6, 101.25])
    assert [f for _, f in sent] == frames
    assert pacer.lateness_s == pytest.approx([0, 0, 0], abs=1e-9)
    assert clock.sleeps == pytest.approx([0.5, 0.1, 0.65])
    assert pacer.next_index == len(frames)


def test_it_sends_overdue_frames_at_once_and_records_their_lateness():
    frames = coalesce("a", answer(0.1, 0.2, 0.3))
    clock = FakeClock(now=0.0)
    sent = []

    async def slow_send(frame):
        sent.append(clock.now)
        clock.now += 0.15  # the socket write takes longer than a token gap

    pacer = Pacer(frames, clock.clock, clock.sleep)
    asyncio.run(pacer.run(slow_send))
    assert sent == pytest.approx([0.1, 0.25, 0.4])
    assert pacer.lateness_s == pytest.approx([0.0, 0.05, 0.1])
    assert clock.sleeps == pytest.approx([0.1])


def test_it_resumes_from_a_start_index_keeping_the_original_t0():
    frames = coalesce("a", answer(0.5, 1.0, 1.5, 2.0))
    clock = FakeClock(now=10.0)
    first, _ = run_pacer(frames, clock)
    t0 = first.t0
    # Reconnect at t0 + 1.2 having delivered two frames: frame 2 is due at t0 + 1.5.
    clock = FakeClock(now=t0 + 1.2)
    resumed, sent = run_pacer(frames, clock, start_at=t0, start_index=2)
    assert resumed.t0 == t0
    assert [f for _, f in sent] == frames[2:]
    assert [t for t, _ in sent] == pytest.approx([t0 + 1.5, t0 + 2.0])
    assert resumed.lateness_s == pytest.approx([0, 0], abs=1e-9)


def test_it_remembers_where_to_resume_when_cancelled():
    frames = coalesce("a", answer(0.1, 0.2, 0.3))
    clock = FakeClock(now=0.0)

    async def send(frame):
        if frame.due_s == 0.2:
            raise asyncio.CancelledError

    pacer = Pacer(frames, clock.clock, clock.sleep)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(pacer.run(send))
    assert pacer.next_index == 1


def test_it_orders_two_panes_of_very_different_speeds():
    fast = SyntheticProfile(ttft_s=0.2, tokens_per_second=1800, jitter="none")
    slow = SyntheticProfile(ttft_s=0.21, tokens_per_second=15, jitter="none")
    text = " w" * 200
    panes = {
        "fast": coalesce("fast", build_schedule(fast, text, seed=1)),
        "slow": coalesce("slow", build_schedule(slow, text, seed=1)),
    }
    # 1800 tok/s is 30 tokens per 60 Hz frame (200 tokens -> 7 frames from 0.2 s to 0.3 s);
    # 15 tok/s is one token every 4 frames, so every slow token is its own frame.
    assert [f.tokens for f in panes["fast"]] == [30] * 6 + [20]
    assert len(panes["slow"]) == 200

    merged = merge_panes(panes)
    # Slow frames at 0.21 and 0.2767 s fall between fast frames at 0.2 + k/60 s.
    expected = ["fast", "slow"] + ["fast"] * 4 + ["slow"] + ["fast"] * 2 + ["slow"] * 198
    assert [f.pane for f in merged] == expected
    assert merged[-1].last and merged[-1].due_s == pytest.approx(0.21 + 199 / 15)
    for pane, frames in panes.items():
        assert [f for f in merged if f.pane == pane] == frames


def test_it_breaks_due_time_ties_by_pane_order():
    a = [Frame("a", 0.5, "a1", "answer", 1, False), Frame("a", 0.7, "a2", "answer", 1, True)]
    b = [Frame("b", 0.2, "b1", "answer", 1, False), Frame("b", 0.5, "b2", "answer", 1, True)]
    assert [f.text for f in merge_panes({"a": a, "b": b})] == ["b1", "a1", "b2", "a2"]
    assert [f.text for f in merge_panes({"b": b, "a": a})] == ["b1", "b2", "a1", "a2"]


def test_it_paces_merged_panes_with_zero_lateness():
    a = coalesce("a", build_schedule(SyntheticProfile(tokens_per_second=300, jitter_cv=0.5), " x" * 50, 1))
    b = coalesce("b", build_schedule(SyntheticProfile(tokens_per_second=20, jitter_cv=0.5), " x" * 10, 2))
    merged = merge_panes({"a": a, "b": b})
    clock = FakeClock(now=0.0)
    pacer, sent = run_pacer(merged, clock)
    assert [f for _, f in sent] == merged
    assert max(abs(x) for x in pacer.lateness_s) < 1e-9


def test_it_keeps_each_tokens_own_due_time_and_text_in_its_frame():
    frames = coalesce("a", answer(0.5, 0.51, 0.516, 0.54))
    assert frames[0].token_due_s == (0.5, 0.51, 0.516)
    assert frames[0].token_texts == ("<0>", "<1>", "<2>")
    assert frames[0].token_dues() == (0.5, 0.51, 0.516)
    # A frame not built from a schedule has all its tokens due at its own due time.
    assert Frame("a", 1.0, "xy", "answer", 2, True).token_dues() == (1.0, 1.0)


@given(st.lists(st.floats(0, 0.5), min_size=1, max_size=80).map(sorted))
def test_it_never_gives_a_token_a_due_time_other_than_its_schedules(dues):
    tokens = answer(*dues)
    frames = coalesce("p", tokens)
    assert [due for frame in frames for due in frame.token_due_s] == dues
    assert [text for frame in frames for text in frame.token_texts] == [token.text for token in tokens]
    assert all(frame.due_s == frame.token_due_s[0] for frame in frames)
