import os

import pytest

pytestmark = pytest.mark.services

KEYS = {
    "participants", "completed", "p99_trial_start_ms", "p99_submit_to_stored_ms", "max_db_connections",
    "db_pool_size", "trials_left_streaming", "lost", "duplicated", "web_restarts", "p99_receive_lateness_ms",
    "concurrent_streams_min", "concurrent_streams_median", "ratings_per_second", "resumed_across_processes",
    "cpu_seconds", "cpu_percent", "processes", "load_generator_nice", "cpu_ms_per_session", "machine_cores",
    "machine_busy_percent", "machine_saturated_s", "run_queue_median", "run_queue_max",
}  # fmt: skip


def test_it_runs_two_whole_sessions_through_nginx_and_moves_one_across_processes(run_bench, database_name):
    result = run_bench(
        "bench_sessions", "--participants", "2", "--processes", "2", "--think", "0.1",
        "--restart-web-at", "1.5", "--database", database_name, timeout=300,
    )  # fmt: skip

    assert KEYS <= set(result)
    assert result["completed"] == result["participants"] == 2 and result["errors"] == 0
    # The demo study: four trials of three answers each, every one stored once and confirmed.
    assert result["trials"] == 8 and result["ratings"] == 24
    assert (result["lost"], result["duplicated"], result["unconfirmed"], result["trials_left_streaming"]) == (0, 0, 0, 0)
    assert 0 < result["max_db_connections"] <= result["db_pool_size"]
    # web-1 was restarted by the benchmark; the supervisor brought it back and nothing else died.
    assert (result["web_restarts_caused"], result["web_restarts"]) == (1, 0)
    # ... while a trial was streaming (the restart waits for one), so it could move a socket mid-trial.
    assert result["streaming_at_web_restart"] >= 1
    # The Postgres server runs on this machine (tests/settings.py): its CPU is measured too.
    assert {"web-2", "proxy", "worker", "load_generator", "postgres"} <= set(result["cpu_seconds"])
    assert result["cpu_seconds"]["postgres"] > 0
    # The load generator's CPU priority is reported (the default: the same as the server's).
    assert result["load_generator_nice"] == os.getpriority(os.PRIO_PROCESS, 0)
    # What each session cost, per process and in all, and how busy the whole machine was meanwhile.
    per_session = result["cpu_ms_per_session"]
    assert per_session["total"] == pytest.approx(sum(per_session[name] for name in result["cpu_seconds"]), abs=0.5)
    assert per_session["web-2"] == pytest.approx(1000 * result["cpu_seconds"]["web-2"] / 2, abs=0.1)
    assert result["machine_cores"] == os.cpu_count()
    assert 0 < result["machine_busy_percent"] <= 100
    assert result["run_queue_max"] >= 1
    assert len(result["cpu_reference_ms"]) == 2 and all(value > 0 for value in result["cpu_reference_ms"])
