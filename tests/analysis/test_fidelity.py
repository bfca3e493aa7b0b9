from uxlab.analysis.fidelity import arm_fidelity, clock_fidelity, trial_fidelity_rows


def pane(fraction, target_ttft, observed_ttft, p99):
    return {
        "fraction_in_first_frame": fraction,
        "target": {"ttft_answer_s": target_ttft, "tokens_per_second": 15.0},
        "observed": {"ttft_answer_s": observed_ttft, "tokens_per_second": 14.8},
        "paint_error_ms": {"p99": p99},
    }


TRIALS = [
    {"participant": 1, "index": 0, "arm_a": "fast", "arm_b": "slow", "status": "finished", "delivery": "controlled",
     "fidelity": {"panes": {"A": pane(1.0, 0.2, 0.205, 4.0), "B": pane(0.9, 1.0, 1.01, 12.0)}}},
    {"participant": 2, "index": 0, "arm_a": "slow", "arm_b": "fast", "status": "finished", "delivery": "controlled",
     "fidelity": {"panes": {"A": pane(0.7, 1.0, 1.03, 30.0), "B": pane(0.98, 0.2, 0.21, 6.0)}}},
    {"participant": 3, "index": 0, "arm_a": "fast", "arm_b": "slow", "status": "interrupted", "delivery": "live",
     "fidelity": {}},
]


def test_it_summarises_each_arm_over_the_panes_it_streamed_in():
    by_arm = {row["arm"]: row for row in arm_fidelity(TRIALS)}
    assert by_arm["fast"]["panes"] == 2 and by_arm["slow"]["panes"] == 2
    assert by_arm["fast"]["fraction_in_first_frame"] == (1.0 + 0.98) / 2
    assert by_arm["slow"]["p99_paint_error_ms"] == (12.0 + 30.0) / 2
    assert by_arm["slow"]["observed_ttft_answer_s"] == (1.01 + 1.03) / 2


def test_it_lays_both_panes_of_a_trial_side_by_side_and_flags_unmeasured_ones():
    rows = trial_fidelity_rows(TRIALS)
    assert rows[0]["A_fraction_in_first_frame"] == 1.0 and rows[0]["B_p99_paint_error_ms"] == 12.0
    assert rows[2]["measured"] is False and rows[2]["interrupted"] is True


def test_it_reports_displayed_speed_early_tokens_and_the_clock_per_arm_and_trial():
    trials = [
        {"participant": 1, "index": 0, "arm_a": "fast", "arm_b": "slow", "status": "finished", "delivery": "controlled",
         "fidelity": {"panes": {"A": {**pane(1.0, 0.2, 0.2, 4.0), "speed_ratio": 1.01, "tokens_early": 0},
                                "B": {**pane(1.0, 1.0, 1.0, 4.0), "speed_ratio": 0.99, "tokens_early": 2}},
                      "tokens_early": 2, "clock_uncertainty_ms": 0.5, "clock_ok": True}},
        {"participant": 2, "index": 0, "arm_a": "slow", "arm_b": "fast", "status": "finished", "delivery": "controlled",
         "fidelity": {"panes": {"A": {**pane(1.0, 1.0, 1.0, 4.0), "speed_ratio": 1.0, "tokens_early": 0},
                                "B": {**pane(1.0, 0.2, 0.2, 4.0), "speed_ratio": 0.97, "tokens_early": 0}},
                      "tokens_early": 0, "clock_uncertainty_ms": 12.0, "clock_ok": False}},
    ]  # fmt: skip
    by_arm = {row["arm"]: row for row in arm_fidelity(trials)}
    assert (by_arm["fast"]["speed_ratio_min"], by_arm["fast"]["speed_ratio_max"]) == (0.97, 1.01)
    assert by_arm["slow"]["tokens_early"] == 2 and by_arm["fast"]["tokens_early"] == 0
    assert by_arm["fast"]["clock_uncertainty_ms"] == (0.5 + 12.0) / 2
    rows = trial_fidelity_rows(trials)
    assert rows[0]["B_speed_ratio"] == 0.99 and rows[0]["tokens_early"] == 2
    assert rows[1]["clock_uncertainty_ms"] == 12.0 and rows[1]["clock_ok"] is False
    assert clock_fidelity(trials) == {"trials": 2, "median_ms": 6.25, "max_ms": 12.0, "uncertain_trials": 1}
