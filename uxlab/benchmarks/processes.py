"""Starting and measuring the real processes a benchmark runs (web server, worker, load)."""

import os
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import CommandError


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"the process exited with code {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise CommandError(f"nothing listened on port {port} within {timeout} s")


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Process:
    """A `python -m ARGV` child for the duration of a `with` block, its output in var/<name>.log.

    `ready` is a port to wait for, or a line to wait for in the log.
    """

    def __init__(self, name, argv, env, ready):
        self.name, self.argv, self.env, self.ready = name, argv, env, ready

    def __enter__(self):
        log_dir = settings.BASE_DIR / "var"
        log_dir.mkdir(exist_ok=True)
        self.log_path = log_dir / f"{self.name}.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *self.argv], cwd=settings.BASE_DIR, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        if isinstance(self.ready, int):
            wait_for_port(self.ready, self.process)
        else:
            deadline = time.monotonic() + 60
            while self.ready not in self.log_path.read_text(errors="replace"):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise CommandError(f"{self.name} did not start; see {self.log_path}")
                time.sleep(0.2)
        return self

    @property
    def pid(self):
        return self.process.pid

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def web_server(app, env, name="bench-web"):
    """A uvicorn process serving `app` with uxlab's own flags, on a free port (`.port`)."""
    from uxlab.processes import web_command

    port = free_port()
    argv = web_command("127.0.0.1", port)
    argv[1] = app
    server = Process(name, argv, env, ready=port)
    server.port = port
    return server


def celery_worker(env, name="bench-worker"):
    from uxlab.processes import worker_command

    return Process(name, [*worker_command(), "--concurrency", "1"], env, ready="ready.")
