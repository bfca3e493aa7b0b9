import pytest

pytestmark = pytest.mark.services

KEYS = {
    "database", "ratings", "seed_seconds", "rss_after_seed_mb", "csv_seconds", "csv_bytes", "parquet_seconds",
    "parquet_bytes", "peak_rss_mb", "parquet_peak_rss_mb", "targets",
}  # fmt: skip


def test_it_exports_a_tiny_seeded_study_and_prints_its_figures(run_bench):
    result = run_bench("bench_export", "--ratings", "40")

    assert set(result) == KEYS
    assert result["ratings"] == 40 and result["csv_bytes"] > 0 and result["parquet_bytes"] > 0
