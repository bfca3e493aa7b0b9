import pytest

pytestmark = [pytest.mark.services, pytest.mark.browser]

FIGURES = {
    "frames", "tokens", "fraction_in_first_frame", "p50_paint_error_ms", "p99_paint_error_ms", "max_paint_error_ms",
    "min_paint_error_ms", "p99_presented_error_ms", "telemetry_tokens_early", "displayed_speed_ratio_min",
    "displayed_speed_ratio_max", "tokens_shown_early", "tokens_not_shown", "onsets_in_first_frame",
    "first_frame_misses",
}  # fmt: skip
KEYS = FIGURES | {
    "trials", "trials_probed", "frame_ms", "t0_same_frame_trials", "t0_same_frame", "clock_uncertainty_ms", "arms",
    "participants", "participants_failed", "concurrency", "load_average",
}  # fmt: skip


def test_it_measures_controlled_trials_in_chromium_with_telemetry_and_the_outside_probe(run_bench, database_name):
    result = run_bench(
        "bench_fidelity", "--participants", "2", "--concurrency", "2", "--pairs", "1", "--database", database_name
    )

    assert set(result) == KEYS
    assert result["participants_failed"] == 0
    assert result["trials"] == result["trials_probed"] == 2 and result["frames"] > 0 and result["tokens"] > 0
    assert set(result["arms"]) == {"burst_5000", "wafer_1800"}
    for figures in [result, *result["arms"].values()]:
        assert FIGURES <= set(figures)
        # The probe's figures are measured, not placeholders: a speed ratio near 1 and a count of early tokens.
        assert 0.5 < figures["displayed_speed_ratio_min"] <= figures["displayed_speed_ratio_max"] < 2
        assert figures["tokens_not_shown"] == 0
        # Never early, whatever the load: by the probe and by uxlab's own telemetry.
        assert figures["tokens_shown_early"] == 0 and figures["telemetry_tokens_early"] == 0
        # Every token that missed its first frame has a reason; the reasons' counts are tokens.
        misses = figures["first_frame_misses"]
        assert set(misses) == {"arrived_after_due", "frame_late", "rendering_late"}
        assert sum(misses.values()) >= round(figures["tokens"] * (1 - figures["fraction_in_first_frame"]))
    assert result["clock_uncertainty_ms"]["max"] is not None
