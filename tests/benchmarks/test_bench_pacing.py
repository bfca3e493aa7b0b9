import pytest

pytestmark = pytest.mark.services

RUN_KEYS = {
    "p50_receive_lateness_ms", "p99_receive_lateness_ms", "max_receive_lateness_ms",
    "p99_receive_lateness_after_start_ms", "messages_per_second", "server_cpu_percent", "load_cpu_seconds", "errors",
}  # fmt: skip
KEYS = {"participants", "seconds", "mode", "send_lateness_ms"} | RUN_KEYS | {f"bare_{key}" for key in RUN_KEYS}


def test_it_paces_two_participants_on_uxlab_and_the_bare_consumer(run_bench, database_name):
    result = run_bench("bench_pacing", "--participants", "2", "--seconds", "1", "--database", database_name)

    assert set(result) == KEYS
    assert (result["errors"], result["bare_errors"]) == (0, 0)
    assert result["messages_per_second"] > 0 and result["bare_messages_per_second"] > 0
    assert result["send_lateness_ms"]["trials"] == 2
