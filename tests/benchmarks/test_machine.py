import multiprocessing
import os
import time

import pytest

from uxlab.benchmarks.machine import MachineSampler, parse_proc_stat, reference_loop_ms, summarize

PROC_STAT = """cpu  100 5 50 800 40 3 2 0 0 0
cpu0 50 2 25 400 20 1 1 0 0 0
cpu1 50 3 25 400 20 2 1 0 0 0
intr 12345 0 0
ctxt 99
procs_running 7
procs_blocked 1
"""


def test_busy_is_everything_but_idle_and_iowait_over_all_cores():
    busy, total, running = parse_proc_stat(PROC_STAT)

    assert (busy, total, running) == (100 + 5 + 50 + 3 + 2, 1000, 7)


def test_text_that_is_not_proc_stat_is_refused():
    with pytest.raises(ValueError):
        parse_proc_stat("cpu  1 2 3 4 5 6 7 8\n")


def test_the_summary_counts_saturated_intervals_and_the_run_queue():
    samples = [(100.0, 12), (96.0, 9), (40.0, 2), (99.5, 20)]

    figures = summarize(samples, interval_s=0.5)

    assert figures["machine_busy_percent"] == pytest.approx(83.9, abs=0.05)
    assert figures["machine_saturated_s"] == 1.5  # three samples of 0.5 s at or above 95 %
    assert (figures["run_queue_median"], figures["run_queue_max"]) == (10.5, 20)
    assert figures["machine_cores"] == os.cpu_count()


def test_no_samples_give_no_figures_rather_than_zeros():
    assert summarize([], 0.5)["machine_busy_percent"] is None


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_it_sees_every_core_kept_busy():
    sampler = MachineSampler(interval_s=0.2)
    sampler.start()
    spinners = [multiprocessing.Process(target=spin, args=(1.5,)) for _ in range(os.cpu_count())]
    for process in spinners:
        process.start()
    for process in spinners:
        process.join()
    figures = sampler.stop()

    assert figures["machine_busy_percent"] >= 85
    assert figures["machine_saturated_s"] >= 0.6
    assert figures["run_queue_max"] >= os.cpu_count()


def test_the_reference_loop_takes_longer_for_more_work():
    short, long = reference_loop_ms(100_000), reference_loop_ms(2_000_000)

    assert 0 < short < long
