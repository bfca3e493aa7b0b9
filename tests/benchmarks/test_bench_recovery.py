import pytest

pytestmark = pytest.mark.services


def test_it_runs_a_tiny_simulated_study_over_the_websocket_and_compares_it_with_the_truth(run_bench, database_name):
    result = run_bench("bench_recovery", "--repetitions", "1", "--participants", "6", "--prompts", "1",
                       "--inattentive", "0.5", "--n-boot", "30", "--database", database_name, timeout=300)

    assert {"truth", "repetitions", "fitted", "threshold_bias_log", "threshold_ci_coverage", "lapse_bias",
            "slope_bias", "per_repetition"} <= set(result)
    assert result["truth"]["threshold_ratio"] == 1.5 and result["repetitions"] == 1
    (study,) = result["per_repetition"]
    # Every trial was streamed to its end and every answer confirmed over the real protocol.
    assert study["interrupted"] == 0 and study["errors"] == 0
    # The inattentive failed the check and left before the done page; everyone else completed.
    assert study["left_before_done"] == study["inattentive"] >= 1
    # The rating path scored their failed checks, so the exclusion rule leaves them out.
    assert study["failed_attention_check"] == study["inattentive"]
    assert study["completed"] == study["participants"] - study["inattentive"]
    assert study["excluded_trials"] > 0  # their trials (and the attention checks) are left out
    # Only for that: the simulated page shows every token in its first frame, as a real one does,
    # so no trial is judged low-fidelity (telemetry the fidelity summary cannot read would be).
    assert study["excluded_by_rule"]["low_fidelity"] == 0
    if study["status"] == "ok":
        assert result["fitted"] == 1 and result["threshold_bias_log"] == pytest.approx(
            study["threshold_log"] - result["truth"]["threshold_log"])
    else:
        assert result["fitted"] == 0 and result["threshold_bias_log"] is None
