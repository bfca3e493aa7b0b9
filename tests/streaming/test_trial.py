from uxlab.streaming.arms import schedule_for_spec
from uxlab.streaming.trial import trial_frames

CONTENT = "One two three four five six seven eight nine ten."


def spec(tokens_per_second, ttft_s, seed):
    return {"kind": "synthetic", "profile": {"tokens_per_second": tokens_per_second, "ttft_s": ttft_s}, "content": CONTENT, "seed": seed}


PANES = {"A": spec(50, 0.2, "a"), "B": spec(10, 0.5, "b")}


def test_it_runs_both_panes_from_one_t0_side_by_side():
    frames = trial_frames(PANES)
    first = {pane: min(f.due_s for f in frames if f.pane == pane) for pane in "AB"}
    assert first == {"A": 0.2, "B": 0.5}
    assert [f.due_s for f in frames] == sorted(f.due_s for f in frames)
    assert "".join(f.text for f in frames if f.pane == "B") == CONTENT


def test_it_starts_b_a_gap_after_a_ends_in_the_sequential_layout():
    frames = trial_frames(PANES, layout="sequential", gap_s=1.5)
    a_end = max(f.due_s for f in frames if f.pane == "A")
    b_frames = [f for f in frames if f.pane == "B"]
    assert b_frames[0].due_s == a_end + 1.5 + 0.5
    # B's own timing is unchanged, only shifted.
    side_by_side = [f.due_s for f in trial_frames(PANES) if f.pane == "B"]
    assert [round(f.due_s - (a_end + 1.5), 9) for f in b_frames] == [round(d, 9) for d in side_by_side]
    assert schedule_for_spec(PANES["A"])[-1].due_s == a_end
