"""Settings from .env: the parser, and the README's commands run from a fresh checkout whose only
configuration is a .env (no variable exported), writing to the Postgres database the file names."""

import os
import shutil
import subprocess
import sys

import psycopg
import pytest

from uxlab.benchmarks.database import ThrowawayDatabase
from uxlab.benchmarks.processes import REPO
from uxlab.envfile import EnvFileError, env_file_path, load_env_file, parse_env_text


def test_it_parses_names_values_quotes_and_comments():
    text = """
# a comment
DEBUG=true
export SITE_URL=http://127.0.0.1:8100
EMPTY=
QUOTED="two words # not a comment"
SINGLE='single # quoted'
TRAILING=value # a comment
SPACED = spaced
"""
    assert parse_env_text(text) == {
        "DEBUG": "true", "SITE_URL": "http://127.0.0.1:8100", "EMPTY": "", "QUOTED": "two words # not a comment",
        "SINGLE": "single # quoted", "TRAILING": "value", "SPACED": "spaced",
    }


@pytest.mark.parametrize("line", ["just words", "1BAD=x", 'OPEN="never closed', 'AFTER="x" y'])
def test_it_names_the_malformed_line(line):
    with pytest.raises(EnvFileError, match="line 2"):
        parse_env_text(f"OK=1\n{line}\n")


def test_exported_variables_win_over_the_file(tmp_path):
    path = tmp_path / ".env"
    path.write_text("DEBUG=false\nSITE_URL=http://example.org\n")
    environ = {"DEBUG": "true"}
    assert load_env_file(path, environ) == ["SITE_URL"]
    assert environ == {"DEBUG": "true", "SITE_URL": "http://example.org"}


def test_uxlab_env_file_chooses_the_file_or_none(tmp_path):
    assert env_file_path({}) == REPO / ".env"
    assert env_file_path({"UXLAB_ENV_FILE": str(tmp_path / "x.env")}) == tmp_path / "x.env"
    assert env_file_path({"UXLAB_ENV_FILE": ""}) is None
    assert load_env_file(environ={"UXLAB_ENV_FILE": str(tmp_path / "missing.env")}) == []


# --- From a fresh checkout -----------------------------------------------------------------------


def fresh_checkout(destination):
    """The working tree's files as a clone would have them (tracked and new, not ignored): no .env,
    no var/, no virtualenv."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO, check=True, capture_output=True
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def clean_env(**extra):
    """An environment with nothing of uxlab's exported: only what a login shell has."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    return {name: value for name, value in os.environ.items() if name in keep} | extra


def run(checkout, *argv, env=None):
    result = subprocess.run(
        [sys.executable, *argv], cwd=checkout, env=env or clean_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.services
def test_the_readme_commands_work_with_only_a_env_file(tmp_path):
    checkout = fresh_checkout(tmp_path / "uxlab")
    with ThrowawayDatabase("uxlab_envfile_test", tables=None) as database:
        # The .env a researcher makes: .env.example copied, the database and secret filled in.
        example = (checkout / ".env.example").read_text()
        env_text = (
            example.replace("DATABASE_URL=postgres://postgres@127.0.0.1:5432/uxlab", f"DATABASE_URL={database.url()}")
            .replace("SECRET_KEY=change-me-to-a-long-random-string", "SECRET_KEY=a-test-only-secret-from-the-env-file")
            .replace("REDIS_URL=redis://127.0.0.1:6379/0", f"REDIS_URL={os.environ['REDIS_URL']}")
        )
        assert env_text.count(database.name) == 1
        (checkout / ".env").write_text(env_text)

        run(checkout, "manage.py", "migrate", "--noinput", "-v", "0")
        setup = run(checkout, "manage.py", "demo_setup")
        assert "/s/demo/" in setup
        simulated = run(checkout, "manage.py", "simulate_participants", "demo", "--participants", "2")
        assert "added 2 simulated participants to demo (2 completed)" in simulated

        with psycopg.connect(database.url()) as connection:
            (completed,) = connection.execute(
                "select count(*) from studies_participant p join studies_study s on s.id = p.study_id"
                " where s.code = 'demo' and p.completed_at is not null"
            ).fetchone()
        assert completed == 2
        assert not (checkout / "var" / "uxlab.sqlite3").exists(), "Postgres mode must not write a SQLite file"

        # The Celery and ASGI entry points read the same file.
        probe = "from django.conf import settings; print(settings.DATABASES['default']['NAME'], settings.SECRET_KEY)"
        expected = f"{database.name} a-test-only-secret-from-the-env-file"
        assert run(checkout, "-c", f"import uxlab.asgi; {probe}").split() == expected.split()
        assert run(checkout, "-c", f"from uxlab.celery import app; app.loader.import_default_modules(); {probe}").split() == expected.split()

        # An exported variable wins over the file.
        override = clean_env(DATABASE_URL=database.url().replace(database.name, "uxlab_exported_instead"))
        shown = run(checkout, "manage.py", "shell", "-v", "0", "-c", probe, env=override)
        assert shown.strip().splitlines()[-1].split()[0] == "uxlab_exported_instead"


def test_a_malformed_env_file_stops_manage_py_with_its_line(tmp_path):
    (tmp_path / "broken.env").write_text("DEBUG=true\nnot a setting\n")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, capture_output=True, text=True, timeout=120,
        env=clean_env(UXLAB_ENV_FILE=str(tmp_path / "broken.env")),
    )
    assert result.returncode != 0
    assert "broken.env, line 2: expected NAME=value" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_setting_stops_manage_py_with_one_line_not_a_traceback():
    env = clean_env(UXLAB_ENV_FILE="")  # no .env, nothing exported: no SECRET_KEY, DEBUG off
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "uxlab: SECRET_KEY is required unless DEBUG=true (docs/deployment.md lists the settings; .env.example is a starting point)"
    ]
