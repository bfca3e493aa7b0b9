"""Named fixtures shared by the suite: alice (owner), bob (teammate), charlie (outsider),
a small fast study, a consented participant and their first trial; plus real server and worker
processes for the integration and browser tests."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uxlab.benchmarks.processes import free_port, wait_for_port  # noqa: F401  (used by tests)
from uxlab.processes import CHROMIUM_ARGS

REPO = Path(__file__).resolve().parent.parent

QUICK_STUDY_YAML = """
version: 1
code: quick
title: Quick test study
consent:
  version: "1"
  text: You agree to take part in a short test.
completion:
  code: QUICK123
arms:
  - name: fast_arm
    label: Fast secret backend
    source: test fixture
    ttft_s: 0.05
    tokens_per_second: 400
  - name: slow_arm
    label: Slow secret backend
    source: test fixture
    ttft_s: 0.2
    tokens_per_second: 60
    thinking_tokens: 5
    thinking_tokens_per_second: 100
    thinking_display: hidden
prompts:
  - name: greeting
    text: Say hello.
    response: Hello there! It is nice to meet you today, and I hope the test goes well.
questions:
  - name: faster
    kind: forced_choice_tie
    text: Which response felt faster?
design:
  pairs: [[fast_arm, slow_arm]]
  seed: quick
"""


@pytest.fixture
def team(db):
    from uxlab.studies.models import Team

    return Team.objects.create(name="Perception lab", slug="perception-lab")


def make_user(username, team=None, role=None):
    from django.contrib.auth import get_user_model

    from uxlab.studies.models import Membership

    user = get_user_model().objects.create_user(username=username, password=f"{username}-password")
    if team is not None:
        Membership.objects.create(team=team, user=user, role=role)
    return user


@pytest.fixture
def alice(team):
    return make_user("alice", team, "owner")


@pytest.fixture
def bob(team):
    return make_user("bob", team, "viewer")


@pytest.fixture
def charlie(db):
    from uxlab.studies.models import Team

    return make_user("charlie", Team.objects.create(name="Other lab", slug="other-lab"), "owner")


def import_yaml(text, team, status="live"):
    from uxlab.studies.study_files import import_study, parse_study_yaml

    return import_study(parse_study_yaml(text), team=team, status=status)


@pytest.fixture
def study(team):
    return import_yaml(QUICK_STUDY_YAML, team)


@pytest.fixture
def participant(study):
    from uxlab.studies import actions

    return actions.give_consent(actions.enroll_participant(study))


@pytest.fixture
def trial(participant):
    return participant.trials.get(index=0)


# --- Real processes ------------------------------------------------------------------------------


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child_process_env():
    """The environment a child process needs to use the test database pytest-django created."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{database['USER']}:{database.get('PASSWORD') or ''}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}"
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def services_env(django_db_setup):
    from django.conf import settings

    assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), "run the suite with `make test`"
    assert settings.REDIS_URL, "run the suite with `make test` (REDIS_URL is needed)"
    return child_process_env()


@pytest.fixture(scope="session")
def celery_worker_process(services_env, tmp_path_factory):
    """A real Celery worker process on the real broker, storing into the test database."""
    from uxlab.processes import worker_command

    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    log = open(log_path, "w")
    argv = [sys.executable, "-m", *worker_command(), "--concurrency", "1", "--pool", "prefork"]
    process = subprocess.Popen(argv, cwd=REPO, env=services_env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    process.log_path = log_path
    yield process
    stop(process)
    log.close()


def start_web_server(env, log_path):
    """A real uvicorn process serving uxlab on a free loopback port: (process, base URL, log file)."""
    from uxlab.processes import web_command

    port = free_port()
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", *web_command("127.0.0.1", port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process)
    except Exception:
        stop(process)
        raise RuntimeError(f"the web server did not start:\n{log_path.read_text()}") from None
    return process, f"http://127.0.0.1:{port}", log


@pytest.fixture(scope="session")
def web_server(services_env, tmp_path_factory):
    """A real uvicorn process serving uxlab on a free loopback port; yields its base URL."""
    process, url, log = start_web_server(services_env, tmp_path_factory.mktemp("web") / "web.log")
    yield url
    stop(process)
    log.close()


@pytest.fixture(scope="session")
def second_web_server(services_env, tmp_path_factory):
    """Another web process on the same database and Redis channel layer (as behind a load balancer)."""
    process, url, log = start_web_server(services_env, tmp_path_factory.mktemp("web2") / "web.log")
    yield url
    stop(process)
    log.close()


@pytest.fixture(scope="session")
def chromium_path():
    path = os.environ.get("UXLAB_CHROMIUM", "/usr/bin/chromium")
    assert os.path.exists(path), f"Debian's chromium is needed at {path}: run `make test`, which installs it"
    return path




@pytest.fixture
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session", autouse=True)
def _close_stray_test_database_sessions(django_db_setup, django_db_blocker):
    """Channels runs ORM calls in executor threads whose connections outlive the tests; end them
    so pytest-django can drop the test database cleanly."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity"
                    " where datname = current_database() and pid <> pg_backend_pid()"
                )
