"""docker-compose.yml cannot run here (no Docker engine); check it parses and runs our real commands."""

import importlib
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

from uxlab.processes import (
    PROXY_TEMPLATE,
    beat_command,
    find_nginx,
    proxy_command,
    proxy_site_config,
    trusted_proxy_placeholders,
    web_command,
    worker_command,
    write_proxy_config,
)

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"
TRUSTED_PROXIES_ENVSH = PROXY_TEMPLATE.parent / "uxlab-trusted-proxies.envsh"
APP_SERVICES = ("migrate", "web", "worker", "beat")


def services():
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_it_defines_every_service_of_the_deployment():
    assert {"postgres", "redis", "web", "worker", "beat", "proxy"} <= set(services())
    assert services()["postgres"]["healthcheck"]["test"]
    assert "--appendonly" in services()["redis"]["command"]


def test_it_runs_the_same_commands_as_make_demo_and_the_tests():
    assert services()["web"]["command"] == web_command("0.0.0.0", 8000)
    assert services()["worker"]["command"] == worker_command()
    assert services()["beat"]["command"] == beat_command("var/celerybeat-schedule")
    assert services()["proxy"]["command"] == proxy_command()


def mounts(service):
    """{source in the repository: target} of a service's bind mounts."""
    pairs = (volume.split(":")[:2] for volume in service.get("volumes", []))
    return {(COMPOSE.parent / source).resolve(): target for source, target in pairs if source.startswith("./")}


def test_its_proxy_runs_the_shipped_configuration_in_front_of_every_web_replica():
    proxy, web = services()["proxy"], services()["web"]
    # The nginx image fills templates/*.template in with envsubst into conf.d/, after sourcing
    # docker-entrypoint.d/*.envsh (ours makes the trusted proxies' lists; 20-envsubst runs after it).
    target = mounts(proxy)[PROXY_TEMPLATE]
    assert target.startswith("/etc/nginx/templates/") and target.endswith(".conf.template")
    envsh = mounts(proxy)[TRUSTED_PROXIES_ENVSH]
    assert re.fullmatch(r"/docker-entrypoint\.d/1\d-[\w-]+\.envsh", envsh)
    assert os.access(TRUSTED_PROXIES_ENVSH, os.X_OK)  # the entrypoint ignores it otherwise
    placeholders = set(re.findall(r"\$\{(\w+)\}", PROXY_TEMPLATE.read_text()))
    assert placeholders == {"UXLAB_LISTEN", "UXLAB_UPSTREAM_SERVERS", *trusted_proxy_placeholders([])}
    assert set(proxy["environment"]) == {"UXLAB_LISTEN", "UXLAB_UPSTREAM_SERVERS", "UXLAB_TRUSTED_PROXIES"}
    assert proxy["environment"]["UXLAB_TRUSTED_PROXIES"] == "${UXLAB_TRUSTED_PROXIES:-}"  # from .env
    # It forwards to the port the web command listens on, under the web service's name.
    web_port = web["command"][web["command"].index("--port") + 1]
    assert proxy["environment"]["UXLAB_UPSTREAM_SERVERS"] == f"server web:{web_port};"
    assert proxy["ports"] == [f"{proxy['environment']['UXLAB_LISTEN']}:{proxy['environment']['UXLAB_LISTEN']}"]
    assert "ports" not in web and int(web["deploy"]["replicas"].split(":-")[1].rstrip("}")) >= 2


def test_its_proxy_configuration_carries_websockets():
    site = proxy_site_config("127.0.0.1:8000", ["127.0.0.1:8001", "127.0.0.1:8002"])
    assert "${" not in site
    assert "server 127.0.0.1:8001; server 127.0.0.1:8002;" in site
    for directive in ("proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;", "proxy_buffering off;"):
        assert directive in site


@pytest.mark.services
@pytest.mark.parametrize("trusted", [[], ["127.0.0.1", "::1", "172.16.0.0/12"]])
def test_nginx_accepts_the_proxy_configuration(tmp_path, trusted):
    nginx = find_nginx()
    assert nginx, "Debian's nginx is needed: run `make test`, which installs it (`make proxy`)"
    config = write_proxy_config(tmp_path, "127.0.0.1:18000", ["127.0.0.1:18001", "127.0.0.1:18002"], trusted_proxies=trusted)
    checked = subprocess.run([nginx, *proxy_command(config)[1:], "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def image_fill_in(environment):
    """What the nginx image does with the template: source the .envsh, then envsubst with the
    variables defined in its environment (20-envsubst-on-templates.sh), in a clean environment."""
    script = (
        '. "$1" && defined=$(printf \'${%s} \' $(awk \'END { for (name in ENVIRON) print name }\' </dev/null)) '
        '&& envsubst "$defined" < "$2"'
    )
    return subprocess.run(
        ["sh", "-c", script, "sh", str(TRUSTED_PROXIES_ENVSH), str(PROXY_TEMPLATE)],
        env={"PATH": os.environ["PATH"], **environment}, capture_output=True, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("trusted", ["", "127.0.0.1", "127.0.0.1, ::1,10.0.0.0/8", "172.16.0.0/12"])
def test_its_proxy_fills_in_the_template_as_serve_does(trusted):
    listen, upstreams = "127.0.0.1:18000", ["127.0.0.1:18001", "127.0.0.1:18002"]
    environment = {
        "UXLAB_LISTEN": listen,
        "UXLAB_UPSTREAM_SERVERS": " ".join(f"server {upstream};" for upstream in upstreams),
        "UXLAB_TRUSTED_PROXIES": trusted,
    }
    filled = image_fill_in(environment)
    assert filled.returncode == 0, filled.stderr
    proxies = [proxy.strip() for proxy in trusted.split(",") if proxy.strip()]
    assert filled.stdout == proxy_site_config(listen, upstreams, proxies)
    assert ("set_real_ip_from" in filled.stdout) == bool(proxies)


@pytest.mark.parametrize("trusted", ["evil; include /etc/passwd", "proxy.example.org", "*", "10.0.0.1 1; 0.0.0.0/0"])
def test_its_proxy_refuses_a_trusted_proxy_that_is_not_an_address(trusted):
    filled = image_fill_in({"UXLAB_LISTEN": "8000", "UXLAB_UPSTREAM_SERVERS": "server web:8000;", "UXLAB_TRUSTED_PROXIES": trusted})
    assert filled.returncode != 0 and "UXLAB_TRUSTED_PROXIES must list IP addresses or networks" in filled.stderr
    with pytest.raises(ValueError, match="must be an IP address or network"):
        proxy_site_config("127.0.0.1:8000", ["127.0.0.1:8001"], [trusted])


def test_its_app_containers_read_the_settings_in_env():
    """.env (copied from .env.example) reaches every app container: the HTTPS variables, SECRET_KEY
    and every UXLAB_* setting; compose sets only what its topology decides, and nothing in .env.example
    that a deployment chooses is overridden."""
    example = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (COMPOSE.parent / ".env.example").read_text(), re.M))
    https = {"SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER"}
    assert https | {"SECRET_KEY", "CSRF_TRUSTED_ORIGINS", "UXLAB_TRUSTED_PROXIES", "UXLAB_LOGIN_ACCOUNT_MAX_FAILURES"} <= example
    for name in APP_SERVICES:
        service = services()[name]
        assert service["env_file"] == ".env", name
        overridden = set(service["environment"])
        assert overridden == {
            "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "UXLAB_CLIENT_IP_HEADER",
        }, name  # fmt: skip
        # Those a deployment chooses come from .env through interpolation, never a fixed value.
        for variable in ("SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL"):
            assert service["environment"][variable].startswith(f"${{{variable}:"), variable


def test_its_web_replicas_count_clients_by_the_address_the_proxy_names():
    """Behind compose's proxy every request comes from the proxy's address: the login lockout, API
    throttle and enrolment limit count by the header the shipped proxy configuration overwrites."""
    overwritten = re.findall(r"proxy_set_header (\S+) \$remote_addr;", PROXY_TEMPLATE.read_text())
    as_django_names = {"HTTP_" + header.upper().replace("-", "_") for header in overwritten}
    assert services()["web"]["environment"]["UXLAB_CLIENT_IP_HEADER"] in as_django_names
    assert "ports" not in services()["web"]  # only the proxy reaches the replicas


def test_its_app_runs_as_an_unprivileged_user_that_can_write_where_it_must():
    dockerfile = services()["web"]["build"]["dockerfile_inline"]
    instructions = re.findall(r"^(FROM|ENV|WORKDIR|COPY|RUN|USER)\b(.*)$", dockerfile, re.M)
    assert instructions[-1][0] == "USER" and instructions[-1][1].strip() not in {"root", "0", "0:0"}
    user = instructions[-1][1].strip()
    workdir = instructions[[kind for kind, _ in instructions].index("WORKDIR")][1].strip()
    owned = {f"{workdir}/{path}" for path in re.search(rf"chown {user}:{user} ([^\n\\]+)", dockerfile)[1].split()}
    # What it writes: beat's schedule (var/) and the media volume, in every app service.
    beat = services()["beat"]["command"]
    assert str(Path(workdir) / Path(beat[beat.index("--schedule") + 1]).parent) in owned
    for name in APP_SERVICES:
        for volume in services()[name].get("volumes", []):
            source, target = volume.split(":")[:2]
            assert not source.startswith("./") and target in owned, (name, volume)
    assert {"/app/var", "/app/var/media"} <= owned


def test_its_commands_name_real_modules():
    module_name, _, attribute = services()["web"]["command"][1].partition(":")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    for name in ("worker", "beat"):
        command = services()[name]["command"]
        app_module = importlib.import_module(command[command.index("--app") + 1])
        assert app_module.celery_app.main == "uxlab"
    migrate = services()["migrate"]["command"]
    assert migrate[:2] == ["python", "manage.py"] and migrate[2] in get_commands()


def test_its_tasks_are_registered_with_the_app_the_worker_runs():
    """Actions enqueue by task name (studies/queue.py): every name must be a task the worker knows."""
    from uxlab import celery_app
    from uxlab.studies import queue

    celery_app.loader.import_default_modules()
    names = [value for name, value in vars(queue).items() if name.isupper() and isinstance(value, str)]
    assert len(names) >= 3
    for name in names:
        assert name in celery_app.tasks, name
