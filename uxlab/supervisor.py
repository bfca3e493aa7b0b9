"""Keeps uxlab's processes running: each child that exits is started again after a backoff.

`manage.py serve` runs the web processes, the proxy, the worker and beat under one Supervisor. A
child that dies (a crash, an out-of-memory kill, `kill -9`) is logged and restarted — after 0.5 s,
then twice as long each time it dies again soon after starting, at most 30 s — and the others keep
running: a dead worker delays confirmations, it does not take the site down.
"""

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass

log = logging.getLogger("uxlab.serve")

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 30.0  # a child that ran this long starts again at the first backoff


@dataclass
class Child:
    name: str
    argv: list
    env: dict | None = None
    cwd: str | None = None
    describe: str = ""
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    backoff_s: float = FIRST_BACKOFF_S
    restarts: int = 0


class Supervisor:
    """`add` the children, `start`, then call `check` every so often; `stop` ends them all."""

    def __init__(self, clock=time.monotonic):
        self.children = {}
        self.clock = clock

    def add(self, name, argv, env=None, cwd=None, describe=""):
        self.children[name] = Child(name, list(argv), env, cwd, describe)

    def start(self):
        for child in self.children.values():
            self.launch(child)

    def launch(self, child):
        # A session of its own: a signal meant for one child (or the terminal's Ctrl-C) reaches
        # only that child and its own subprocesses (a worker's pool); serve stops the rest itself.
        child.process = subprocess.Popen(child.argv, env=child.env, cwd=child.cwd, start_new_session=True)
        child.started_at, child.restart_at = self.clock(), None
        log.info("%s started (pid %d)%s", child.name, child.process.pid, f" {child.describe}" if child.describe else "")

    def check(self):
        """Notice children that exited, and start again those whose backoff has passed."""
        now = self.clock()
        for child in self.children.values():
            if child.restart_at is None and child.process.poll() is not None:
                if now - child.started_at >= STABLE_AFTER_S:
                    child.backoff_s = FIRST_BACKOFF_S
                child.restart_at = now + child.backoff_s
                log.warning(
                    "%s (pid %d) exited with code %s; restarting in %.1f s",
                    child.name, child.process.pid, child.process.returncode, child.backoff_s,
                )  # fmt: skip
                child.backoff_s = min(MAX_BACKOFF_S, child.backoff_s * 2)
            elif child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self.launch(child)

    def run(self, interval_s=0.25):
        """Supervise until interrupted (KeyboardInterrupt, or SIGTERM turned into one)."""
        while True:
            self.check()
            time.sleep(interval_s)

    def stop(self, timeout_s=10.0):
        """SIGINT to every child's group (uvicorn and Celery finish what they are doing; nginx
        stops at once), then SIGKILL to whatever is left when the timeout passes."""
        running = [child for child in self.children.values() if child.process and child.process.poll() is None]
        for child in running:
            signal_group(child.process.pid, signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        for child in running:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(child.process.pid, signal.SIGKILL)
                child.process.wait()


def signal_group(pid, signum):
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass
