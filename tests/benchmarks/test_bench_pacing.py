import pytest

pytestmark = pytest.mark.services

RUN_KEYS = {
    "p50_receive_lateness_ms", "p99_receive_lateness_ms", "max_receive_lateness_ms",
    "p99_receive_lateness_after_start_ms", "messages_per_second", "server_cpu_percent", "load_cpu_seconds", "errors",
    "p50_trial_start_ms", "p99_trial_start_ms", "concurrent_streams_min", "concurrent_streams_median",
    "all_streaming_fraction",
}  # fmt: skip
KEYS = {"participants", "seconds", "mode", "send_lateness_ms"} | RUN_KEYS | {f"bare_{key}" for key in RUN_KEYS}


def test_it_paces_two_participants_on_uxlab_and_the_bare_consumer(run_bench, database_name):
    result = run_bench("bench_pacing", "--participants", "2", "--seconds", "1", "--database", database_name)

    assert set(result) == KEYS
    assert (result["errors"], result["bare_errors"]) == (0, 0)
    assert result["messages_per_second"] > 0 and result["bare_messages_per_second"] > 0
    assert result["send_lateness_ms"]["trials"] == 2
    # Both participants' slow panes stream for the whole second: both were streaming at once.
    assert result["concurrent_streams_median"] == 2 and result["p99_trial_start_ms"] > 0


def test_it_measures_controlled_delivery_from_the_time_each_message_is_sent(run_bench, database_name):
    result = run_bench(
        "bench_pacing", "--participants", "2", "--seconds", "1", "--delivery", "controlled", "--database", database_name
    )

    assert result["mode"] == "controlled" and result["errors"] == 0
    assert not any(key.startswith("bare_") for key in result)
    # Sent 250 ms ahead of due: lateness counts from the send time, so it is not ~-250 ms.
    assert result["p50_receive_lateness_ms"] > -50


def test_a_capacity_step_passes_only_if_its_participants_streamed_together():
    from uxlab.benchmarks.management.commands.bench_pacing import Command

    on_time = {"errors": 0, "receive_lateness_ms": {"p99": 3.0}}
    assert Command().passes(on_time | {"all_streaming_fraction": 0.8}, bound_ms=10)
    # On time, but the starts were spread so that rarely was everybody streaming: not a capacity.
    assert not Command().passes(on_time | {"all_streaming_fraction": 0.2}, bound_ms=10)
    assert not Command().passes({"errors": 0, "receive_lateness_ms": {"p99": 12.0}, "all_streaming_fraction": 1.0}, bound_ms=10)
