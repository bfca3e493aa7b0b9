"""The throwaway database of a benchmark run is its own: a second run on the same name is refused
(it would drop the first one's database mid-run), and the name is free again once the first ends."""

import os
import subprocess
import sys
import time

import pytest
from django.core.management.base import CommandError

from uxlab.benchmarks.database import ThrowawayDatabase, admin_connection
from uxlab.benchmarks.processes import parent_pid, server_cpu_seconds


def database_exists(name):
    with admin_connection() as admin:
        return admin.execute("select 1 from pg_database where datname = %s", [name]).fetchone() is not None


@pytest.mark.services
def test_a_second_run_on_the_same_database_is_refused_and_leaves_the_first_alone():
    name = f"uxlab_claim_test_{os.getpid()}"
    with ThrowawayDatabase(name, tables=None):
        with pytest.raises(CommandError, match="another benchmark is using the database .* --database NAME"):
            with ThrowawayDatabase(name, tables=None):
                pass  # never reached
        assert database_exists(name), "the refused run dropped the first run's database"
    assert not database_exists(name)
    with ThrowawayDatabase(name, tables=None):  # free again
        assert database_exists(name)
    assert not database_exists(name)



def test_a_servers_cpu_counts_its_exited_and_live_children():
    """server_cpu_seconds (bench_sessions' Postgres CPU): a forking server's CPU with its
    children's, live or exited (reaped into its own)."""
    burn = [sys.executable, "-c", "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"]
    before = server_cpu_seconds(os.getpid())
    subprocess.run(burn, check=True)  # exited and reaped: in this process's cutime
    live = subprocess.Popen([*burn[:2], burn[2] + "\ntime.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while server_cpu_seconds(os.getpid()) - before < 0.55 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server_cpu_seconds(os.getpid()) - before >= 0.55  # both burns: the live one counts too
        assert parent_pid(live.pid) == os.getpid()
    finally:
        live.kill()
        live.wait()
    assert server_cpu_seconds(2**22 + 1) is None and parent_pid(2**22 + 1) is None
