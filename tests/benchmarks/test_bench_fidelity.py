import pytest

pytestmark = [pytest.mark.services, pytest.mark.browser]

KEYS = {
    "trials", "frames", "tokens", "frame_ms", "fraction_in_first_frame", "p50_paint_error_ms", "p99_paint_error_ms",
    "max_paint_error_ms", "min_paint_error_ms", "t0_same_frame_trials", "t0_same_frame",
}  # fmt: skip


def test_it_measures_one_controlled_trial_in_chromium(run_bench, database_name):
    result = run_bench("bench_fidelity", "--participants", "1", "--pairs", "1", "--database", database_name)

    assert set(result) == KEYS
    assert result["trials"] == 1 and result["frames"] > 0 and result["tokens"] > 0
