import pytest

from uxlab.streaming.fidelity import hidden_seconds, pane_fidelity, phase_timing, trial_fidelity

FRAME_MS = 1000 / 60
# seq -> (due_s, tokens, phase): a 0.5 s thinking marker, then 4 answer frames of 2 tokens each.
TARGETS = {
    1: (0.5, 1, "thinking"),
    2: (1.0, 2, "answer"),
    3: (1.1, 2, "answer"),
    4: (1.2, 2, "answer"),
    5: (1.3, 2, "answer"),
}


def test_it_measures_serving_metrics_from_points():
    timing = phase_timing([(due, tokens, phase) for due, tokens, phase in TARGETS.values()])
    assert timing["ttft_thinking_s"] == 0.5
    assert timing["ttft_answer_s"] == 1.0
    assert timing["e2e_s"] == 1.3
    assert timing["answer_tokens"] == 8
    assert timing["tpot_s"] == pytest.approx(0.3 / 7)
    assert timing["tokens_per_second"] == pytest.approx(7 / 0.3)


def test_it_counts_a_frame_painted_within_one_frame_after_due_as_on_time():
    observed = {seq: (due * 1000 - 200, due * 1000 + 5) for seq, (due, _, _) in TARGETS.items()}
    summary = pane_fidelity(TARGETS, observed, FRAME_MS)
    assert summary["fraction_in_first_frame"] == 1.0
    assert summary["paint_error_ms"]["p50"] == pytest.approx(5)
    assert summary["complete"]
    assert summary["observed"]["ttft_answer_s"] == pytest.approx(1.005)


def test_it_weights_late_and_early_paints_by_their_tokens():
    observed = {seq: (0, due * 1000 + 1) for seq, (due, _, _) in TARGETS.items()}
    observed[3] = (0, 1100 + 40)  # late: painted more than a frame after due
    observed[4] = (0, 1200 - 3)  # early: painted before due
    summary = pane_fidelity(TARGETS, observed, FRAME_MS)
    assert summary["fraction_in_first_frame"] == pytest.approx(5 / 9)
    assert summary["paint_error_ms"]["max"] == pytest.approx(40)


def test_it_marks_a_pane_with_unpainted_frames_incomplete_and_the_trial_interrupted():
    observed = {1: (0, 501), 2: (0, 1001)}
    result = trial_fidelity({"A": TARGETS, "B": {}}, observed, frame_ms=FRAME_MS)
    assert not result["panes"]["A"]["complete"]
    assert result["interrupted"]


def test_it_adds_up_hidden_time_until_the_end():
    assert hidden_seconds([(1.0, "hidden"), (1.5, "visible"), (2.0, "hidden")], end_s=3.0) == pytest.approx(1.5)
    assert hidden_seconds([], end_s=3.0) == 0


# One pane, two messages whose tokens have their own due times (ms): 100, 110, 120 | 140, 150.
PER_TOKEN = {1: (0.100, 3, "answer", (0.100, 0.110, 0.120)), 2: (0.140, 2, "answer", (0.140, 0.150))}


def test_it_counts_a_token_shown_by_a_frame_before_its_due_time_as_early():
    # A frame at 101 ms shows message 1 whole: its 2nd and 3rd tokens are early.
    updates = {1: [(3, 101.0, 103.0)], 2: [(1, 141.0, 143.0), (1, 151.0, 153.0)]}
    summary = pane_fidelity(PER_TOKEN, {1: (0, 101.0), 2: (0, 141.0)}, FRAME_MS, updates)
    assert summary["tokens_early"] == 2
    assert summary["tokens"] == summary["tokens_shown"] == 5
    assert summary["fraction_in_first_frame"] == pytest.approx(3 / 5)


def test_it_judges_each_token_by_the_frame_that_showed_it():
    updates = {1: [(1, 101.0, 103.0), (2, 121.0, 123.0)], 2: [(2, 151.0, 152.0)]}
    summary = pane_fidelity(PER_TOKEN, {1: (0, 101.0), 2: (0, 151.0)}, FRAME_MS, updates)
    assert summary["tokens_early"] == 0
    assert summary["fraction_in_first_frame"] == 1.0
    assert summary["paint_error_ms"]["max"] == pytest.approx(11)
    assert summary["onset_error_ms"] == pytest.approx(1)
    # Displayed: 4 gaps from 101 to 151 ms; declared: 4 gaps from 100 to 150 ms.
    assert summary["speed_ratio"] == pytest.approx(1.0)


def test_it_counts_a_frame_whose_rendering_ran_a_frame_late_as_not_in_the_first_frame():
    # Frame time on time, but the page's rendering of it finished 30 ms later: not on screen in time.
    updates = {1: [(3, 121.0, 151.0)], 2: [(2, 151.0, 152.0)]}
    summary = pane_fidelity(PER_TOKEN, {1: (0, 121.0), 2: (0, 151.0)}, FRAME_MS, updates)
    assert summary["fraction_in_first_frame"] == pytest.approx(2 / 5)
    assert summary["presented_error_ms"]["max"] == pytest.approx(51)


def test_it_reports_the_displayed_speed_against_the_target():
    # Everything shown 10 ms late except the last token, 20 ms late: displayed slower than declared.
    updates = {1: [(1, 110.0, 111.0), (1, 120.0, 121.0), (1, 130.0, 131.0)], 2: [(1, 150.0, 151.0), (1, 170.0, 171.0)]}
    summary = pane_fidelity(PER_TOKEN, {1: (0, 110.0), 2: (0, 150.0)}, FRAME_MS, updates)
    assert summary["speed_ratio"] == pytest.approx(50 / 60)


def test_it_keeps_the_clock_uncertainty_with_the_verdict():
    clock = {"offset_ms": 1.5, "rtt_ms": 3.0, "rounds": 12, "uncertainty_ms": 1.5}
    result = trial_fidelity({"A": PER_TOKEN}, {1: (0, 101.0), 2: (0, 141.0)}, frame_ms=FRAME_MS, clock=clock)
    assert result["clock_uncertainty_ms"] == 1.5 and result["clock_ok"]
    assert result["tokens_early"] == 3  # without updates, a message's tokens count as shown together
    slow = trial_fidelity({"A": PER_TOKEN}, {}, frame_ms=FRAME_MS, clock={"offset_ms": 0, "rtt_ms": 40, "rounds": 3})
    assert slow["clock_uncertainty_ms"] == 20 and slow["clock_ok"] is False
    assert trial_fidelity({"A": PER_TOKEN}, {}, frame_ms=FRAME_MS)["clock_ok"] is None


def test_it_judges_a_live_trial_by_lateness_from_arrival_not_by_the_first_frame():
    from uxlab.streaming.fidelity import LIVE_LATENESS_BUDGET_MS, live_trial_fidelity

    # Chunks arrived at the server at 0.50, 0.52, 0.60 s and were shown 30, 40 and 150 ms later:
    # never in the first frame after arrival, yet the first two within the live budget.
    targets = {"A": {1: (0.50, 2, "answer"), 2: (0.52, 1, "answer"), 3: (0.60, 1, "answer")}}
    observed = {1: (520.0, 530.0), 2: (550.0, 560.0), 3: (700.0, 750.0)}
    summary = live_trial_fidelity(targets, observed)

    pane = summary["panes"]["A"]
    assert summary["standard"] == pane["standard"] == "live" and summary["lateness_budget_ms"] == LIVE_LATENESS_BUDGET_MS
    assert pane["fraction_in_first_frame"] == 0.0
    assert pane["fraction_within_budget"] == pytest.approx(3 / 4)  # weighted by tokens: 2 + 1 of 4
    assert pane["lateness_ms"]["max"] == pytest.approx(150.0) and pane["lateness_ms"]["p50"] == pytest.approx(40.0)
    # TTFT and speed as the backend delivered them: the arrivals.
    assert pane["target"]["ttft_answer_s"] == 0.50 and pane["target"]["tokens_per_second"] == pytest.approx(3 / 0.1)
