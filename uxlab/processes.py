"""The commands that run uxlab's processes, in one place.

`manage.py serve` (and so `make demo`), the test suite and docker-compose.yml all start the
web server, the Celery worker and beat with exactly these arguments; a test checks the compose file.
"""

WEB_APP = "uxlab.asgi:application"
CELERY_APP = "uxlab"


def web_command(host="127.0.0.1", port=8000):
    """uvicorn with per-message compression off (it costs ~30% of server CPU), websocket frames of at
    most 2 MiB (twice the protocol's largest; uvicorn's default, 16 MiB, would be read whole before
    the protocol refuses it), and neither the access log nor the per-connection info lines, which
    carry client IP addresses."""
    return [
        "uvicorn",
        WEB_APP,
        "--host",
        host,
        "--port",
        str(port),
        "--ws-per-message-deflate",
        "false",
        "--ws-max-size",
        "2097152",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def worker_command():
    return ["celery", "--app", CELERY_APP, "worker", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]


def beat_command(schedule_path="var/celerybeat-schedule"):
    return ["celery", "--app", CELERY_APP, "beat", "--loglevel", "INFO", "--schedule", schedule_path]


# Debian's chromium as the tests and bench_fidelity drive it (through Playwright's executable_path):
# headless, and without the background networking this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
