"""Run uxlab's processes together under a supervisor: web processes (behind nginx when there are
several), and with a broker configured, the Celery worker and beat. A process that dies is logged
and restarted with backoff; the rest keep running (uxlab/supervisor.py)."""

import os
import signal
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from uxlab.processes import (
    beat_command,
    find_nginx,
    proxy_command,
    web_command,
    worker_command,
    write_proxy_config,
)
from uxlab.supervisor import Supervisor


def stop_on_signal(signum, frame):
    raise KeyboardInterrupt


def shared_channel_layer():
    """Whether web processes can share sockets' groups: only through a layer outside the process."""
    return "InMemory" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]


def python(argv):
    return [sys.executable, "-m", *argv]


def child_env(name):
    """The environment of child `name`: its Postgres connections carry its name (`uxlab-web-1`,
    `uxlab-worker`, … in pg_stat_activity's application_name), so each process's share of the
    connections can be read off the server (docs/deployment.md sizes them)."""
    return os.environ | {"PGAPPNAME": f"{os.environ.get('PGAPPNAME') or 'uxlab'}-{name}"}


def exposed_web_env(name):
    """A web process that clients reach without nginx believes X-Forwarded-For and -Proto only from
    UXLAB_TRUSTED_PROXIES (uvicorn's FORWARDED_ALLOW_IPS; by default uvicorn trusts loopback, where
    any local client could name an address). Behind nginx, web processes trust nginx on loopback."""
    return child_env(name) | {"FORWARDED_ALLOW_IPS": ",".join(settings.UXLAB_TRUSTED_PROXIES)}


class Command(BaseCommand):
    help = (
        "Start uxlab: one web process per core behind nginx (one with the embedded default), and the "
        "Celery worker and beat when a broker is configured; restarts whatever dies. Ctrl-C stops them all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--web-processes", type=int, default=None,
            help="web processes (default: one per core with REDIS_URL set, else 1)",
        )  # fmt: skip
        parser.add_argument(
            "--proxy", choices=["nginx", "uvicorn"], default=None,
            help="several web processes behind nginx (the default where it is installed) or uvicorn's own --workers mode",
        )  # fmt: skip
        parser.add_argument(
            "--web-base-port", type=int, default=None,
            help="behind nginx, web process i listens on 127.0.0.1:BASE+i (default: --port + 1)",
        )  # fmt: skip
        parser.add_argument("--runtime-dir", default=None, help="nginx's configuration and logs, beat's schedule (default var/serve)")

    def handle(self, host, port, web_processes, proxy, web_base_port, runtime_dir, **options):
        if not settings.DEBUG:
            # Hashed, compressed static files for WhiteNoise (the image build runs it too).
            call_command("collectstatic", "--noinput", verbosity=0)
        count = web_processes or ((os.cpu_count() or 1) if shared_channel_layer() else 1)
        if count < 1:
            raise CommandError("--web-processes must be at least 1")
        if count > 1 and not shared_channel_layer():
            raise CommandError(
                "several web processes need the Redis channel layer (set REDIS_URL): the in-memory layer "
                "of the embedded default reaches only the sockets of its own process"
            )
        runtime = settings.BASE_DIR / (runtime_dir or "var/serve")
        runtime.mkdir(parents=True, exist_ok=True)
        supervisor = Supervisor()
        cwd = settings.BASE_DIR
        nginx = find_nginx()
        if count > 1 and proxy is None:
            proxy = "nginx" if nginx else "uvicorn"
            if nginx is None:
                self.stdout.write("nginx is not installed (`make proxy`): using uvicorn's own workers instead.")
        if count == 1:
            supervisor.add("web", python(web_command(host, port)), env=exposed_web_env("web"), cwd=cwd, describe=f"on {host}:{port}")
        elif proxy == "uvicorn":
            supervisor.add(
                "web", python(web_command(host, port, workers=count)), env=exposed_web_env("web"), cwd=cwd,
                describe=f"{count} workers on {host}:{port}",
            )
        else:
            if nginx is None:
                raise CommandError(
                    "nginx is not installed: `make proxy` (Debian's nginx-light), or run "
                    "`serve --proxy uvicorn` (uvicorn's own workers) or `serve --web-processes 1`"
                )
            ports = [(web_base_port or port + 1) + index for index in range(count)]
            upstreams = [f"127.0.0.1:{web_port}" for web_port in ports]
            for index, web_port in enumerate(ports, start=1):
                supervisor.add(
                    f"web-{index}", python(web_command("127.0.0.1", web_port)), env=child_env(f"web-{index}"), cwd=cwd,
                    describe=f"on 127.0.0.1:{web_port}",
                )
            config = write_proxy_config(
                runtime / "nginx", f"{host}:{port}", upstreams, trusted_proxies=settings.UXLAB_TRUSTED_PROXIES
            )
            supervisor.add("proxy", [nginx, *proxy_command(config)[1:]], cwd=cwd, describe=f"nginx on {host}:{port}")
        if settings.CELERY_TASK_ALWAYS_EAGER:
            self.stdout.write("No broker configured: ratings are stored in-process (embedded default).")
        else:
            supervisor.add("worker", python(worker_command()), env=child_env("worker"), cwd=cwd)
            supervisor.add(
                "beat", python(beat_command(str(runtime / "celerybeat-schedule"))), env=child_env("beat"), cwd=cwd
            )
        signal.signal(signal.SIGTERM, stop_on_signal)
        try:
            supervisor.start()
            self.stdout.write(
                f"Serving on http://{host}:{port} ({', '.join(supervisor.children)}). Press Ctrl-C to stop.", ending="\n"
            )
            self.stdout.flush()
            supervisor.run()
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            supervisor.stop()
