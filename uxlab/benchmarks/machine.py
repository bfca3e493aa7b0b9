"""The machine's own view of a benchmark run: how busy its cores were and how many processes were
ready to run at once, read from the kernel (/proc/stat) rather than from the processes measured.

A latency figure taken on a saturated machine measures the queue for a core as much as the code: a
run whose cores were all busy, with a dozen processes waiting, says so in its JSON.
"""

import os
import statistics
import threading
import time

# A sample at or above this share of every core busy counts as a saturated interval.
SATURATED_PERCENT = 95.0
# The reference loop's length: ~0.1 s of one core on this repository's development machine.
REFERENCE_ADDITIONS = 2_000_000


def reference_loop_ms(additions=REFERENCE_ADDITIONS):
    """How long this machine takes (ms) for a fixed loop of Python additions, on one core. The same
    code and interpreter on a shared machine has run 1.5 times slower from one hour to the next;
    taken before and after a run, it tells whether two runs' figures can be compared at all."""
    started = time.perf_counter()
    total = 0
    for number in range(additions):
        total += number
    return round((time.perf_counter() - started) * 1000, 1)


def parse_proc_stat(text):
    """(busy, total) clock ticks of all cores and the number of runnable processes, from the text
    of /proc/stat. Busy is everything but idle and iowait (steal counts as busy: the time was not
    this machine's to use)."""
    busy = total = running = None
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
            total = sum(ticks)
            busy = total - ticks[3] - ticks[4]
        elif fields and fields[0] == "procs_running":
            running = int(fields[1])
    if busy is None or running is None:
        raise ValueError("not the text of /proc/stat")
    return busy, total, running


def read_proc_stat():
    with open("/proc/stat") as stat:
        return parse_proc_stat(stat.read())


def summarize(samples, interval_s):
    """The machine's figures from (busy percent, runnable processes) samples taken every
    `interval_s`: mean busy percent, seconds at or above SATURATED_PERCENT, and the run queue's
    median and maximum (runnable processes, counting the one reading /proc/stat)."""
    if not samples:
        return {"machine_cores": os.cpu_count(), "machine_busy_percent": None, "machine_saturated_s": None,
                "run_queue_median": None, "run_queue_max": None}  # fmt: skip
    busy = [percent for percent, _running in samples]
    running = [count for _percent, count in samples]
    return {
        "machine_cores": os.cpu_count(),
        "machine_busy_percent": round(statistics.fmean(busy), 1),
        "machine_saturated_s": round(interval_s * sum(1 for percent in busy if percent >= SATURATED_PERCENT), 1),
        "run_queue_median": statistics.median(running),
        "run_queue_max": max(running),
    }


class MachineSampler(threading.Thread):
    """Samples the whole machine every `interval_s` while a benchmark runs; `stop()` gives
    summarize()'s figures."""

    def __init__(self, interval_s=0.5):
        super().__init__(daemon=True)
        self.interval_s, self.samples, self.stopping = interval_s, [], threading.Event()

    def run(self):
        busy_before, total_before, _running = read_proc_stat()
        while not self.stopping.wait(self.interval_s):
            busy, total, running = read_proc_stat()
            if total > total_before:
                self.samples.append((100.0 * (busy - busy_before) / (total - total_before), running))
            busy_before, total_before = busy, total

    def stop(self):
        self.stopping.set()
        self.join()
        return summarize(self.samples, self.interval_s)
