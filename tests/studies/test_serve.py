"""manage.py serve: web processes behind nginx, worker and beat, each restarted when it dies."""

import os
import re
import signal
import sys
import time

import httpx
import pytest
from django.core.management import CommandError, call_command

from uxlab.benchmarks.processes import REPO, Process, free_port, free_port_range
from uxlab.supervisor import Supervisor


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.services
def test_it_restarts_a_child_that_died_with_growing_backoff_and_leaves_the_others_alone():
    clock = FakeClock()
    supervisor = Supervisor(clock=clock)
    supervisor.add("dies", [sys.executable, "-c", "raise SystemExit(3)"])
    supervisor.add("lives", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor.start()
    try:
        lives = supervisor.children["lives"].process
        dies = supervisor.children["dies"]
        waits = []
        for _ in range(3):
            first = dies.process
            wait_for(lambda: first.poll() is not None)
            supervisor.check()
            waits.append(dies.restart_at - clock.now)
            clock.now = dies.restart_at
            supervisor.check()
            assert dies.process is not first
        assert waits == [0.5, 1.0, 2.0]
        assert dies.restarts == 3
        assert supervisor.children["lives"].process is lives and lives.poll() is None
    finally:
        supervisor.stop(timeout_s=5)
    assert lives.poll() is not None


def test_it_refuses_several_web_processes_on_the_in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with pytest.raises(CommandError, match="Redis channel layer"):
        call_command("serve", web_processes=2)


def pids(log, name):
    return [int(pid) for pid in re.findall(rf"{name} started \(pid (\d+)\)", log)]


@pytest.mark.services
def test_it_serves_through_nginx_and_keeps_the_site_up_when_the_worker_is_killed(services_env, tmp_path, db):
    port = free_port()
    env = services_env | {
        "CELERY_TASK_DEFAULT_QUEUE": f"serve-test-{port}", "LOG_LEVEL": "INFO", "UXLAB_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8",
    }  # fmt: skip
    argv = [
        sys.executable, "manage.py", "serve", "--port", str(port), "--web-processes", "2",
        "--web-base-port", str(free_port_range(2)), "--runtime-dir", str(tmp_path / "serve"),
    ]  # fmt: skip
    serve = Process(argv, env, tmp_path / "serve.log", ready=port, cwd=REPO)
    with serve:
        wait_for(lambda: "worker started" in serve.log_text() and "ready." in serve.log_text(), timeout=60)
        log = serve.log_text()
        web_pids = pids(log, r"web-\d")
        assert len(web_pids) == 2 and len(pids(log, "proxy")) == 1
        login = f"http://127.0.0.1:{port}/accounts/login/"
        assert httpx.get(login).status_code == 200
        # nginx believes the client address and scheme only from the proxies the settings trust.
        site = (tmp_path / "serve" / "nginx" / "uxlab.conf").read_text()
        assert "set_real_ip_from 127.0.0.1; set_real_ip_from 10.0.0.0/8;" in site

        (worker,) = pids(log, "worker")
        os.killpg(worker, signal.SIGKILL)
        wait_for(lambda: len(pids(serve.log_text(), "worker")) == 2)
        # Meanwhile and after, the site answers and nothing else was restarted.
        assert httpx.get(login).status_code == 200
        log = serve.log_text()
        assert "worker (pid %d) exited with code -9; restarting" % worker in log
        assert pids(log, r"web-\d") == web_pids and serve.poll() is None
        for pid in web_pids:
            os.kill(pid, 0)  # still running


def test_a_web_process_clients_reach_directly_believes_forwarded_headers_only_from_trusted_proxies(settings):
    """Without nginx in front (one web process, or --proxy uvicorn), uvicorn itself decides whose
    X-Forwarded-For to believe: UXLAB_TRUSTED_PROXIES, not its default of any local process."""
    from uxlab.studies.management.commands.serve import exposed_web_env

    settings.UXLAB_TRUSTED_PROXIES = []
    assert exposed_web_env("web")["FORWARDED_ALLOW_IPS"] == ""
    settings.UXLAB_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]
    assert exposed_web_env("web")["FORWARDED_ALLOW_IPS"] == "127.0.0.1,10.0.0.0/8"


def test_it_names_each_childs_database_connections_after_the_child(monkeypatch):
    """pg_stat_activity's application_name tells which of serve's processes holds a connection
    (bench_sessions counts each process's share by it); an operator's PGAPPNAME is the prefix."""
    from uxlab.studies.management.commands.serve import child_env

    monkeypatch.delenv("PGAPPNAME", raising=False)
    assert child_env("web-1")["PGAPPNAME"] == "uxlab-web-1"
    assert child_env("worker")["PATH"] == os.environ["PATH"]
    monkeypatch.setenv("PGAPPNAME", "lab")
    assert child_env("beat")["PGAPPNAME"] == "lab-beat"
