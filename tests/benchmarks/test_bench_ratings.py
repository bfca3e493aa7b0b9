import pytest

pytestmark = pytest.mark.services

KEYS = {
    "participants", "offered_rate", "order", "window", "duration_s", "ratings_per_second",
    "steady_ratings_per_second", "p50_submit_to_stored_ms", "p90_submit_to_stored_ms", "p99_submit_to_stored_ms",
    "max_submit_to_stored_ms", "confirmed", "retry_frames", "resends", "errors", "submitted", "stored", "lost",
    "unconfirmed", "duplicated", "unexpected", "conflicts", "dead_letters", "cpu_seconds",
}  # fmt: skip


def test_it_drives_a_few_ratings_through_the_real_path_and_prints_the_oracle(run_bench, database_name):
    result = run_bench("bench_ratings", "--ratings", "40", "--participants", "2", "--database", database_name)

    assert set(result) == KEYS
    assert set(result["cpu_seconds"]) == {"redis", "web", "worker", "bench_client", "postgres"}
    assert (result["submitted"], result["stored"], result["confirmed"]) == (40, 40, 40)
    assert (result["lost"], result["duplicated"], result["unexpected"], result["errors"]) == (0, 0, 0, [])
