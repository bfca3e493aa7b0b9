"""bench_sessions --find-capacity's search, against a stand-in for a whole run whose true capacity is
known (a real step is a minute-long run of the whole stack; tests/benchmarks/test_bench_sessions.py
runs the real thing)."""

import pytest

from uxlab.benchmarks.management.commands.bench_sessions import CAPACITY_STEP, Command

OPTIONS = {"participants": 500, "ramp": 30.0, "start_bound_ms": 250.0, "stored_bound_ms": 1000.0}


def a_run(participants, start_ms=50.0, stored_ms=200.0, **changes):
    return {
        "participants": participants, "completed": participants, "p50_trial_start_ms": 10.0,
        "p99_trial_start_ms": start_ms, "p50_submit_to_stored_ms": 50.0, "p99_submit_to_stored_ms": stored_ms,
        "p99_receive_lateness_ms": 5.0, "concurrent_streams_min": 1, "concurrent_streams_median": participants // 2,
        "lost": 0, "duplicated": 0, "unconfirmed": 0, "trials_left_streaming": 0, "errors": 0, "duration_s": 60.0,
        "machine_busy_percent": 50.0, "machine_saturated_s": 0.0, "run_queue_median": 2,
        "cpu_reference_ms": [100.0, 101.0],
        "cpu_ms_per_session": {"total": 250.0},
    } | changes  # fmt: skip


def command_with_capacity(truth, **options):
    """A Command whose runs pass up to `truth` participants and miss the start bound beyond it."""
    command = Command()
    command.options = OPTIONS | options
    command.sizes = []

    def run(database, redis, count, participants):
        command.sizes.append(participants)
        return a_run(participants, start_ms=100.0 if participants <= truth else 400.0)

    command.run = run
    return command


@pytest.mark.parametrize("truth", [60, 137, 199, 260, 480])
def test_it_finds_the_capacity_to_within_a_step(truth):
    command = command_with_capacity(truth)

    result = command.find_capacity(None, None, 2)

    assert truth - CAPACITY_STEP < result["capacity"] <= truth
    assert result["capacity_is_ceiling"] is False
    assert result["arrivals_per_second"] == pytest.approx(result["capacity"] / 30, abs=0.01)
    assert [step["participants"] for step in result["capacity_runs"]] == command.sizes
    assert all(step["passed"] == (step["participants"] <= truth) for step in result["capacity_runs"])
    assert len(command.sizes) <= 8


def test_synchronised_arrivals_have_a_capacity_but_no_arrival_rate():
    """--ramp 0: every participant arrives at once, so arrivals_per_second is null (JSON), not a
    division by zero or a rate over a made-up window."""
    command = command_with_capacity(137, ramp=0.0)

    result = command.find_capacity(None, None, 1)

    assert 137 - CAPACITY_STEP < result["capacity"] <= 137
    assert result["ramp_s"] == 0.0 and result["arrivals_per_second"] is None


def test_a_machine_that_carries_the_ceiling_says_so_and_stops_there():
    command = command_with_capacity(10_000)

    result = command.find_capacity(None, None, 1)

    assert (result["capacity"], result["capacity_is_ceiling"]) == (500, True)
    assert command.sizes == [50, 100, 200, 400, 500]


def test_a_first_step_that_fails_gives_zero_not_a_guess():
    command = command_with_capacity(10)

    result = command.find_capacity(None, None, 1)

    assert result["capacity"] < 50 and all(not step["passed"] for step in result["capacity_runs"][:1])


@pytest.mark.parametrize(
    "changes",
    [
        {"completed": 99},
        {"lost": 1},
        {"duplicated": 1},
        {"unconfirmed": 1},
        {"trials_left_streaming": 1},
        {"errors": 1},
        {"p99_trial_start_ms": 250.1},
        {"p99_submit_to_stored_ms": 1000.1},
        {"p99_trial_start_ms": None},
    ],
)
def test_a_step_fails_on_anything_lost_or_past_a_bound(changes):
    command = Command()
    command.options = OPTIONS

    assert command.passes(a_run(100, start_ms=250.0, stored_ms=1000.0))
    assert not command.passes(a_run(100, start_ms=250.0, stored_ms=1000.0) | changes)


@pytest.mark.parametrize(
    "arguments",
    [
        ["--ramp", "-700"],  # a negative timeout for the load process: a traceback after the stack was up
        ["--ramp", "nan"],
        ["--seconds", "-1"],
        ["--think", "-0.5"],
        ["--start-bound-ms", "nan"],  # every step would fail against it: capacity 0
        ["--processes", "0"],  # serve read 0 as its default (one per core) while the JSON said 0
        ["--processes", "2,-1"],
    ],
)
def test_absurd_options_stop_before_anything_starts(arguments):
    from django.core.management import CommandError, call_command

    # Refused before the command looks for nginx or Postgres: this holds on any machine.
    with pytest.raises(CommandError, match="must be"):
        call_command("bench_sessions", "--participants", "1", *arguments)
