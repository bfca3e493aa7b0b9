import pytest

pytestmark = pytest.mark.services


def test_it_runs_tiny_adaptive_and_fixed_studies_over_the_real_path(run_bench, database_name):
    result = run_bench("bench_adaptive", "--participants", "2", "--max-trials", "4", "--database", database_name,
                       timeout=300)

    assert {"threshold_rmse_log", "median_trials", "coverage", "fixed_pairs", "adaptive_better",
            "per_participant"} <= set(result)
    assert result["median_trials"] == 4 and result["fixed_pairs"]["median_trials"] == 4
    for design in (result, result["fixed_pairs"]):
        # Every participant streamed every trial, had every answer stored and reached the done page.
        assert design["completed"] == 2 and design["errors"] == 0 and design["estimated"] == 2
        assert 0 <= design["threshold_rmse_log"] < 1 and 0 <= design["coverage"] <= 1
    (first, second) = result["per_participant"]
    assert first["adaptive"]["low_log10"] <= first["adaptive"]["log10"] <= first["adaptive"]["high_log10"]
