"""The commands that run uxlab's processes, in one place.

`manage.py serve` (and so `make demo`), the test suite, the benchmarks and docker-compose.yml all
start the web server, the Celery worker, beat and the reverse proxy with exactly these arguments
and the proxy configuration in deploy/nginx/; a test checks the compose file against them.
"""

import ipaddress
import os
import shutil
from pathlib import Path
from string import Template

WEB_APP = "uxlab.asgi:application"
CELERY_APP = "uxlab"
PROXY_TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "uxlab.conf.template"


def web_command(host="127.0.0.1", port=8000, workers=None):
    """uvicorn with per-message compression off (it costs ~30% of server CPU), websocket frames of at
    most 2 MiB (twice the protocol's largest; uvicorn's default, 16 MiB, would be read whole before
    the protocol refuses it), and neither the access log nor the per-connection info lines, which
    carry client IP addresses. `workers` > 1 is uvicorn's own multi-process mode (one socket, a
    process per worker; needs the Redis layer)."""
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
    ] + (["--workers", str(workers)] if workers and workers > 1 else [])


def worker_command():
    return ["celery", "--app", CELERY_APP, "worker", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]


def beat_command(schedule_path="var/celerybeat-schedule"):
    return ["celery", "--app", CELERY_APP, "beat", "--loglevel", "INFO", "--schedule", schedule_path]


def proxy_command(config_path=None):
    """nginx in the foreground; with `config_path`, that main configuration and its error log beside
    it (serve and bench_sessions), without it the image's own (docker-compose)."""
    argv = ["nginx", "-g", "daemon off;"]
    if config_path is not None:
        config_path = Path(config_path)
        argv += ["-c", str(config_path), "-e", str(config_path.parent / "error.log")]
    return argv


def find_nginx():
    """The nginx executable (Debian puts it in /usr/sbin, not always on a user's PATH), or None."""
    return shutil.which("nginx", path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin")


def trusted_proxy_placeholders(trusted_proxies):
    """The template's two lists of the proxies in front of nginx whose X-Forwarded-For and
    X-Forwarded-Proto it believes (addresses or networks): realip's and the geo block's entries.
    deploy/nginx/uxlab-trusted-proxies.envsh writes the same for docker-compose."""
    for proxy in trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValueError(f"a trusted proxy must be an IP address or network, not {proxy!r}") from None
    return {
        "UXLAB_REAL_IP_FROM": " ".join(f"set_real_ip_from {proxy};" for proxy in trusted_proxies),
        "UXLAB_TRUSTED_PROXY_GEO": " ".join(f"{proxy} 1;" for proxy in trusted_proxies),
    }


def proxy_site_config(listen, upstreams, trusted_proxies=()):
    """deploy/nginx/uxlab.conf.template filled in: listening on `listen` ("host:port"), spreading
    requests over `upstreams` (["host:port", ...]), believing the client address and scheme that
    `trusted_proxies` (addresses or networks; none by default) forward."""
    return Template(PROXY_TEMPLATE.read_text()).safe_substitute(
        UXLAB_LISTEN=listen,
        UXLAB_UPSTREAM_SERVERS=" ".join(f"server {upstream};" for upstream in upstreams),
        **trusted_proxy_placeholders(trusted_proxies),
    )


def write_proxy_config(runtime_dir, listen, upstreams, worker_connections=8192, trusted_proxies=()):
    """A main nginx.conf in `runtime_dir` (pid file, logs and temporary files there too) that runs
    the shipped site configuration; returns its path, for `proxy_command`."""
    runtime_dir = Path(runtime_dir).resolve()
    runtime_dir.mkdir(parents=True, exist_ok=True)
    (runtime_dir / "uxlab.conf").write_text(proxy_site_config(listen, upstreams, trusted_proxies))
    temp = {name: runtime_dir / f"{name}_temp" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    main = runtime_dir / "nginx.conf"
    main.write_text(
        f"""# Written by uxlab/processes.py: the shipped site configuration (uxlab.conf) in a private nginx.
worker_processes 1;
worker_rlimit_nofile {worker_connections * 2 + 64};
pid {runtime_dir / "nginx.pid"};
error_log {runtime_dir / "error.log"} warn;
events {{ worker_connections {worker_connections}; }}
http {{
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {runtime_dir / "uxlab.conf"};
}}
"""
    )
    return main


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
