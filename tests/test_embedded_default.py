"""The single-machine pilot mode: no DATABASE_URL / REDIS_URL / broker, and still a full session."""

import os
import sqlite3
import subprocess
import sys

import pytest

from tests.browser.participant_flow import complete_session
from uxlab.benchmarks.processes import REPO, web_server

pytestmark = [pytest.mark.browser, pytest.mark.services]


@pytest.fixture
def embedded_server(tmp_path):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(DEBUG="true", SQLITE_PATH=str(tmp_path / "uxlab.sqlite3"), PYTHONUNBUFFERED="1")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True, timeout=120)
    setup = subprocess.run([*manage, "demo_setup"], cwd=REPO, env=env, check=True, timeout=60, capture_output=True, text=True)
    assert "/s/demo/" in setup.stdout and "researcher" in setup.stdout
    with web_server(env, tmp_path / "web.log") as server:
        yield server.url, tmp_path / "uxlab.sqlite3"


def test_it_completes_the_demo_with_no_database_or_redis_configured(embedded_server, browser):
    base_url, database = embedded_server
    code = complete_session(browser.new_page(), base_url, "demo", answer_key="3")

    with sqlite3.connect(database) as connection:
        (expected_code,) = connection.execute("select completion_code from studies_study where code = 'demo'").fetchone()
        answers = connection.execute(
            "select q.name, r.value from studies_rating r join studies_question q on q.id = r.question_id"
        ).fetchall()
        trials = connection.execute("select count(*) from studies_trial").fetchone()[0]
        (completed,) = connection.execute("select count(*) from studies_participant where completed_at is not null").fetchone()
    assert code == expected_code and completed == 1
    # Every trial answered: "No difference" on the choice, 3 of 5 on each pane's Likert item.
    assert trials >= 3
    assert sorted(answers) == sorted([("faster", "tie")] * trials + [("wait_ok_A", "3"), ("wait_ok_B", "3")] * trials)


def test_the_readme_simulate_command_works_as_printed(tmp_path):
    """The README's (and demo_setup's) command for adding simulated participants, run exactly as
    printed from a checkout with no .env, after the steps `make demo` runs."""
    import re
    import shlex

    readme = (REPO / "README.md").read_text()
    (printed,) = re.findall(r"`(DEBUG=true \.venv/bin/python manage\.py simulate_participants [^`]+)`", readme)
    assignment, *command = shlex.split(printed)
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(SQLITE_PATH=str(tmp_path / "uxlab.sqlite3"))
    demo = {**env, "DEBUG": "true"}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=REPO, env=demo, check=True, timeout=120)
    setup = subprocess.run([*manage, "demo_setup"], cwd=REPO, env=demo, check=True, timeout=60, capture_output=True, text=True)
    assert printed.split(" manage.py ")[1] in setup.stdout  # demo_setup prints the same command

    name, value = assignment.split("=")
    command[0] = sys.executable  # .venv/bin/python is this interpreter under `make test`
    run = subprocess.run(command, cwd=REPO, env={**env, name: value}, timeout=120, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with sqlite3.connect(tmp_path / "uxlab.sqlite3") as connection:
        (completed,) = connection.execute("select count(*) from studies_participant where completed_at is not null").fetchone()
    assert completed == 20
