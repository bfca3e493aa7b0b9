"""The real processes benchmarks and tests run (uvicorn, Celery workers, redis-server, load
generators): started with their output in a log file, waited for, measured and stopped, in one place.

    with web_server(child_env(), log_dir / "web.log") as web:
        ...  # web.url, web.cpu_seconds()
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from uxlab.processes import web_command, worker_command

REPO = Path(__file__).resolve().parents[2]


class ProcessError(RuntimeError):
    """A child process exited or never became ready; the message ends with its log."""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_range(count, attempts=200):
    """The first of `count` consecutive loopback ports that are all free now."""
    for _ in range(attempts):
        base = free_port()
        try:
            for port in range(base + 1, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise ProcessError(f"found no {count} consecutive free ports")


def wait_for_port(port, process=None, timeout=60):
    """Until something accepts connections on the loopback port (or `process` exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ProcessError(f"the process exited with code {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise ProcessError(f"nothing listened on port {port} within {timeout} s")


def stat_fields(pid):
    """The fields of /proc/PID/stat after the process name (state is [0], ppid [1], pgrp [2],
    utime [11], stime [12], cutime [13], cstime [14]); None when it is not on this machine."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def every_process_stat():
    """(pid, stat fields) of every process now on this machine."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(entry.name)) is not None:
            yield int(entry.name), fields


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (from /proc)."""
    fields = stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(f"no process {pid} on this machine")  # an OSError, as before
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid):
    """The same, summed over every live process of a process group (a worker and its pool)."""
    ticks = sum(int(fields[11]) + int(fields[12]) for _pid, fields in every_process_stat() if int(fields[2]) == pgid)
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(pid):
    """User + system CPU seconds a forking server (Postgres's postmaster) has used with every
    process it started: its own, its exited children's (reaped into its cutime and cstime) and its
    live children's. None when the process is not on this machine (or not readable)."""
    own = stat_fields(pid)
    if own is None:
        return None
    ticks = sum(int(value) for value in own[11:15])  # utime, stime, cutime, cstime
    ticks += sum(int(fields[11]) + int(fields[12]) for _pid, fields in every_process_stat() if int(fields[1]) == pid)
    return ticks / os.sysconf("SC_CLK_TCK")


def process_name(pid):
    """A local process's name (its /proc comm); None when it is not on this machine."""
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return None


def parent_pid(pid):
    """The parent of a local process; None when it is not on this machine."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[1])


def database_url(name=None):
    """A URL for the database `name` (default: the configured one) on the configured server."""
    database = settings.DATABASES["default"]
    return (
        f"postgres://{database['USER']}:{database.get('PASSWORD') or ''}@{database['HOST']}:{database['PORT']}"
        f"/{name or database['NAME']}"
    )


def child_env(database=None, **overrides):
    """The environment a child process needs to use Django's configured database (or the database
    named `database` on the same server): the parent's environment with DATABASE_URL pointing there."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url(database)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def python(*argv):
    """`python -m ARGV` with this interpreter."""
    return [sys.executable, "-m", *argv]


class Process:
    """A child process in a process group of its own, its output in `log_path`.

    `ready` is a loopback port to wait for, a line to wait for in the log, or None. Stopping sends
    SIGTERM to the process, then SIGKILL to whatever is left of its group (a worker's pool).
    """

    def __init__(self, argv, env, log_path, ready=None, timeout=60, cwd=REPO):
        self.argv, self.env, self.log_path = argv, env, Path(log_path)
        self.ready, self.timeout, self.cwd = ready, timeout, cwd
        self.process = None

    def start(self):
        """Start (or start again, as a restart) and wait until ready."""
        return self.launch().wait_until_ready()

    def launch(self):
        """Start without waiting (start several, then `wait_until_ready` on each)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab" if self.process else "wb") as log:  # a restart appends
            self.process = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_until_ready(self):
        """Wait for the port or the log line; stop the process and raise if it never comes."""
        try:
            self.wait_for_ready()
        except Exception:
            self.stop()
            raise
        return self

    def wait_for_ready(self):
        try:
            if isinstance(self.ready, int):
                wait_for_port(self.ready, self.process, self.timeout)
            elif self.ready is not None:
                deadline = time.monotonic() + self.timeout
                while self.ready not in self.log_text():
                    if self.process.poll() is not None:
                        raise ProcessError(f"the process exited with code {self.process.returncode}")
                    if time.monotonic() > deadline:
                        raise ProcessError(f"{self.ready!r} did not appear within {self.timeout} s")
                    time.sleep(0.1)
        except ProcessError as error:
            raise ProcessError(f"{' '.join(self.argv[:4])} did not start: {error}\n{self.log_text()[-3000:]}") from None

    @property
    def pid(self):
        return self.process.pid

    def poll(self):
        return self.process.poll()

    def wait(self, timeout=None):
        return self.process.wait(timeout)

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cpu_seconds(self):
        """CPU seconds used so far by the process and the live members of its group."""
        return group_cpu_seconds(self.pid)

    def signal_group(self, signum):
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self):
        """SIGKILL the whole group at once (a crash, as the fault tests need)."""
        self.signal_group(signal.SIGCONT)  # a stopped process must be able to die
        self.signal_group(signal.SIGKILL)
        self.process.wait()

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout=15):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def web_server(env, log_path, app=None):
    """uxlab's web process (or another ASGI `app`, with the same uvicorn flags) on a free port:
    `.port`, `.url`."""
    port = free_port()
    argv = web_command("127.0.0.1", port)
    if app is not None:
        argv[1] = app
    server = Process(python(*argv), env, log_path, ready=port)
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    return server


def celery_worker(env, log_path, pool="prefork", module="celery", concurrency=1):
    """One Celery worker (concurrency 1 unless asked). `module` replaces the `celery` entry point,
    for a test's wrapper that installs fault hooks first (tests/faulty_worker.py)."""
    _celery, *arguments = worker_command()
    argv = python(module, *arguments, "--concurrency", str(concurrency), "--pool", pool)
    return Process(argv, env, log_path, ready="ready.")


def redis_server(log_path, port=None):
    """A redis-server of one's own on a loopback port, without persistence: `.port`, `.url`."""
    port = port or free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = Process(argv, dict(os.environ), log_path, ready=port, timeout=10, cwd=Path(log_path).parent)
    server.port, server.url = port, f"redis://127.0.0.1:{port}/0"
    return server
