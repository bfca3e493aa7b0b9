"""Run uxlab's processes together: the web server and, with a broker configured, worker and beat."""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from uxlab.processes import beat_command, web_command, worker_command


def stop_on_signal(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Start the ASGI server (and a Celery worker and beat when a broker is configured); Ctrl-C stops them all."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, host, port, **options):
        if not settings.DEBUG:
            # Hashed, compressed static files for WhiteNoise (the image build runs it too).
            call_command("collectstatic", "--noinput", verbosity=0)
        commands = {"web": web_command(host, port)}
        if settings.CELERY_TASK_ALWAYS_EAGER:
            self.stdout.write("No broker configured: ratings are stored in-process (embedded default).")
        else:
            settings.BASE_DIR.joinpath("var").mkdir(exist_ok=True)
            commands["worker"] = worker_command()
            commands["beat"] = beat_command(str(settings.BASE_DIR / "var" / "celerybeat-schedule"))
        processes = {
            name: subprocess.Popen([sys.executable, "-m", *argv], cwd=settings.BASE_DIR)
            for name, argv in commands.items()
        }
        self.stdout.write(f"Serving on http://{host}:{port} ({', '.join(processes)}). Press Ctrl-C to stop.")
        signal.signal(signal.SIGTERM, stop_on_signal)
        try:
            while True:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping the rest.")
                        return
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
