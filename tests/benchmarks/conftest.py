"""Running a benchmark command as a developer does (`manage.py bench_* --json`), tiny, in a process
of its own: it makes its own throwaway database, so it needs no test database."""

import json
import os
import subprocess
import sys

import pytest

from uxlab.benchmarks.processes import REPO, free_port


@pytest.fixture
def run_bench():
    def run(name, *arguments, timeout=120):
        # A database name and a Celery queue of this run's own, so nothing else shares them.
        env = dict(os.environ, CELERY_TASK_DEFAULT_QUEUE=f"smoke-{free_port()}", PYTHONUNBUFFERED="1")
        done = subprocess.run(
            [sys.executable, "manage.py", name, *arguments, "--json"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    return run


@pytest.fixture
def database_name():
    """A throwaway database name no other run on this server uses."""
    return f"uxlab_smoke_{os.getpid()}_{free_port()}"
