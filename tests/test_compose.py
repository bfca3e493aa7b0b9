"""docker-compose.yml cannot run here (no Docker engine); check it parses and runs our real commands."""

import importlib
from pathlib import Path

import yaml
from django.core.management import get_commands

from uxlab.processes import beat_command, web_command, worker_command

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def services():
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_it_defines_every_service_of_the_deployment():
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services())
    assert services()["postgres"]["healthcheck"]["test"]
    assert "--appendonly" in services()["redis"]["command"]


def test_it_runs_the_same_commands_as_make_demo_and_the_tests():
    assert services()["web"]["command"] == web_command("0.0.0.0", 8000)
    assert services()["worker"]["command"] == worker_command()
    assert services()["beat"]["command"] == beat_command("var/celerybeat-schedule")


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
