"""Absurd inputs against a real server with DEBUG=false, on the embedded SQLite default and on
Postgres: each gets a 4xx, and the server's log holds no traceback and no 5xx."""

import os
import re
import subprocess
import sys

import httpx
import pytest

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from uxlab.benchmarks.processes import REPO, web_server

pytestmark = pytest.mark.services


def csrf_form(client, base_url, path):
    """The page's CSRF token (the client keeps its cookie)."""
    page = client.get(f"{base_url}{path}")
    assert page.status_code == 200, page.status_code
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]


def log_tail(log_path):
    return log_path.read_text(errors="replace")[-3000:]


def play_absurd_inputs(base_url, code, log_path):
    """Send every absurd HTTP input; returns [(what, status)]."""
    seen = []
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        csrf = csrf_form(client, base_url, f"/s/{code}/")
        started = client.post(f"{base_url}/s/{code}/", data={"csrfmiddlewaretoken": csrf})
        assert started.status_code == 302, log_tail(log_path)
        token = started.headers["location"].split("/")[2]
        headers = {"X-CSRFToken": client.cookies["csrftoken"]}
        seen.append(("NUL in a panel id", client.get(f"{base_url}/s/{code}/?PROLIFIC_PID=a%00b").status_code))
        seen.append(
            ("NUL in the start form", client.post(f"{base_url}/s/{code}/", data={"csrfmiddlewaretoken": csrf, "PROLIFIC_PID": "a\x00b"}).status_code)
        )
        seen.append(("NUL in a token", client.get(f"{base_url}/p/a%00b/").status_code))
        seen.append(("NUL in a static path", client.get(f"{base_url}/static/a%00b.js").status_code))
        seen.append(("static path escape", client.get(f"{base_url}/static/..%2f..%2fsettings.py").status_code))
        seen.append(("static path escape, plain", client.get(f"{base_url}/static/../../uxlab/settings.py").status_code))
        for body in ('{"pending": Infinity}', '{"pending": 1e400}', "[", '{"pending": "x"}'):
            response = client.post(
                f"{base_url}/p/{token}/unconfirmed/", content=body, headers={**headers, "Content-Type": "application/json"}
            )
            seen.append((f"give-up {body}", response.status_code))
        seen.append(("give up with nothing done", client.post(f"{base_url}/p/{token}/unconfirmed/", content="{}", headers=headers).status_code))
        many_fields = "&".join(f"f{index}=1" for index in range(1_200))
        seen.append(("1,200 query fields", client.get(f"{base_url}/s/{code}/?{many_fields}").status_code))
        seen.append(("1,200 form fields", client.post(f"{base_url}/s/{code}/", content=many_fields, headers={
            **headers, "Content-Type": "application/x-www-form-urlencoded"}).status_code))
        seen.append(("a 3 MB form", client.post(f"{base_url}/p/{token}/consent/", content="decision=" + "a" * 3_000_000, headers={
            **headers, "Content-Type": "application/x-www-form-urlencoded"}).status_code))
        seen.append(("a 10 MB text body", client.post(f"{base_url}/p/{token}/withdraw/", content=b"x" * 10_000_000, headers={
            **headers, "Content-Type": "text/plain"}).status_code))
        seen.append(("checks of absurd size", client.post(f"{base_url}/p/{token}/checks/", content="[" * 100_000, headers=headers).status_code))
    return seen


def assert_all_refused_cleanly(seen, log_text):
    wrong = [(what, status) for what, status in seen if not 400 <= status < 500]
    assert not wrong, wrong
    assert "Traceback" not in log_text and "Internal Server Error" not in log_text, log_text[-3000:]


@pytest.fixture
def sqlite_server(tmp_path):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(DEBUG="false", SECRET_KEY="served-hostile-test", SQLITE_PATH=str(tmp_path / "uxlab.sqlite3"), PYTHONUNBUFFERED="1")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True, timeout=120)
    subprocess.run([*manage, "demo_setup"], cwd=REPO, env=env, check=True, timeout=60, capture_output=True)
    with web_server(env, tmp_path / "web.log") as server:
        yield server, env, tmp_path


def test_hostile_inputs_get_a_4xx_and_no_traceback_served_on_sqlite(sqlite_server):
    server, env, tmp_path = sqlite_server
    seen = play_absurd_inputs(server.url, "demo", tmp_path / "web.log")

    # The command line too: a study file nested 5,000 levels deep is one error line.
    deep = tmp_path / "deep.yaml"
    deep.write_text("x: " + "[" * 5000 + "]" * 5000)
    imported = subprocess.run(
        [sys.executable, "manage.py", "import_study", str(deep)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 1 and "Traceback" not in imported.stderr
    assert imported.stderr.splitlines()[0] == f"{deep}: line 1, column 24: nested too deeply (at most 20 levels)"

    assert_all_refused_cleanly(seen, (tmp_path / "web.log").read_text())


@pytest.mark.django_db(transaction=True)
def test_hostile_inputs_get_a_4xx_and_no_traceback_served_on_postgres(stack, team):
    import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: hostile"), team)
    log_path = stack.web.log_path
    before = log_path.stat().st_size
    seen = play_absurd_inputs(stack.url, "hostile", log_path)
    with open(log_path, errors="replace") as log:
        log.seek(before)
        assert_all_refused_cleanly(seen, log.read())
