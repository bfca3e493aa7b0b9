"""docker-compose.yml cannot run here (no Docker engine); check it parses and runs our real commands."""

import importlib
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
    web_command,
    worker_command,
    write_proxy_config,
)

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


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


def test_its_proxy_runs_the_shipped_configuration_in_front_of_every_web_replica():
    proxy, web = services()["proxy"], services()["web"]
    source, _, target = proxy["volumes"][0].partition(":")
    assert (COMPOSE.parent / source).resolve() == PROXY_TEMPLATE
    # The nginx image fills templates/*.template in with envsubst into conf.d/.
    assert target.startswith("/etc/nginx/templates/") and target.split(":")[0].endswith(".conf.template")
    placeholders = set(re.findall(r"\$\{(\w+)\}", PROXY_TEMPLATE.read_text()))
    assert placeholders == set(proxy["environment"]) == {"UXLAB_LISTEN", "UXLAB_UPSTREAM_SERVERS"}
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
def test_nginx_accepts_the_proxy_configuration(tmp_path):
    nginx = find_nginx()
    assert nginx, "Debian's nginx is needed: run `make test`, which installs it (`make proxy`)"
    config = write_proxy_config(tmp_path, "127.0.0.1:18000", ["127.0.0.1:18001", "127.0.0.1:18002"])
    checked = subprocess.run([nginx, *proxy_command(config)[1:], "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


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
