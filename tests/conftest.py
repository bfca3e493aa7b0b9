"""Named fixtures shared by the suite: alice (owner), bob (teammate), charlie (outsider),
a small fast study, a consented participant and their first trial; plus the real web/worker stack
and one Chromium for the integration and browser tests."""

import asyncio
import os

# Live arms in the suite talk to servers on this machine (`make test` sets the same): for the child
# processes, and for this one when pytest was started without it (settings are already loaded).
LOCAL_LIVE_HOSTS = "127.0.0.0/8,::1"
os.environ.setdefault("UXLAB_LIVE_ALLOWED_HOSTS", LOCAL_LIVE_HOSTS)
# The key variables the suite's live arms name, each bound to the host its tests send it to.
TEST_KEY_HOSTS = "UXLAB_KEY_TEST=backend.test,UXLAB_KEY_TEST_BACKEND=127.0.0.1,UXLAB_KEY_EXAMPLE=api.example.org"
os.environ.setdefault("UXLAB_KEY_HOSTS", TEST_KEY_HOSTS)
# Child processes (servers, workers, commands) get their settings from the tests alone, never from a
# developer's .env (uxlab/envfile.py); tests of .env itself set UXLAB_ENV_FILE or leave it out.
os.environ.setdefault("UXLAB_ENV_FILE", "")

import pytest  # noqa: E402
from django.conf import settings  # noqa: E402

from uxlab.streaming.backends import egress  # noqa: E402

if not settings.UXLAB_LIVE_ALLOWED_HOSTS or not settings.UXLAB_KEY_HOSTS:
    settings.UXLAB_LIVE_ALLOWED_HOSTS = settings.UXLAB_LIVE_ALLOWED_HOSTS or LOCAL_LIVE_HOSTS.split(",")
    settings.UXLAB_KEY_HOSTS = settings.UXLAB_KEY_HOSTS or TEST_KEY_HOSTS.split(",")
    egress.configure(egress.policy_from_settings(settings))

from tests.stack import Stack  # noqa: E402
from uxlab.benchmarks.processes import child_env  # noqa: E402
from uxlab.processes import CHROMIUM_ARGS  # noqa: E402

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


def rows_for_the_module(request, django_db_blocker, make):
    """For a module-scoped fixture whose rows are slow to make (whole simulated sessions):
    `yield from rows_for_the_module(request, django_db_blocker, make)` calls make() once, in a
    transaction of the module's own, and yields what it returns. Each test's transaction
    (pytest-django's, a savepoint inside it) rolls back to those rows, and the module's transaction
    is rolled back at the end, so nothing is ever committed. The database stays blocked outside
    make() and the tests' own `django_db`; a module with a transactional or live-server test is
    refused (its flush would empty the rows, its server would not see them)."""
    from django.db import transaction

    module_items = [item for item in request.session.items if item.module is request.module]
    transactional = [
        item.name for item in module_items
        if {"transactional_db", "live_server"} & set(item.fixturenames)
        or any(marker.kwargs.get("transaction") for marker in item.iter_markers("django_db"))
    ]
    if transactional:
        raise RuntimeError(f"rows_for_the_module: transactional tests in {request.module.__name__}: {transactional}")
    module_transaction = transaction.atomic()
    with django_db_blocker.unblock():
        module_transaction.__enter__()
        try:
            made = make()
        except BaseException:
            transaction.set_rollback(True)
            module_transaction.__exit__(None, None, None)
            raise
    try:
        yield made
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            module_transaction.__exit__(None, None, None)


@pytest.fixture
def tokenizer_dir(tmp_path):
    """An empty tokenizer directory (UXLAB_TOKENIZER_DIR) for the test, configured, then restored."""
    from uxlab.streaming import tokenizer_files

    before = tokenizer_files.current()
    directory = tmp_path / "tokenizers"
    directory.mkdir()
    tokenizer_files.configure(tokenizer_files.TokenizerFiles(str(directory), before.max_bytes))
    yield directory
    tokenizer_files.configure(before)


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
def other_team(db):
    from uxlab.studies.models import Team

    return Team.objects.create(name="Other lab", slug="other-lab")


@pytest.fixture
def charlie(other_team):
    return make_user("charlie", other_team, "owner")


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


def mark_trials_shown(participant):
    """Mark every trial of the participant as streamed to the end, as if the page had shown it:
    answers are taken only for shown trials. For tests of the rating path that do not stream."""
    import time

    from django.utils import timezone

    from uxlab.studies.models import Trial

    now = timezone.now()
    Trial.objects.filter(participant=participant).update(
        stream_t0=time.time() - 60, started_at=now, finished_at=now, status=Trial.Status.FINISHED, delivery="controlled"
    )
    return participant


@pytest.fixture(scope="session", autouse=True)
def _collected_static_files():
    """Pages name static files by their hashed names (WhiteNoise's manifest), as in production."""
    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)


# --- Real processes ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def services_env(django_db_setup):
    """The environment of a child process that uses the test database pytest-django created."""
    from django.conf import settings

    from django.db import connection

    assert connection.vendor == "postgresql", "run the suite with `make test`"
    assert settings.REDIS_URL, "run the suite with `make test` (REDIS_URL is needed)"
    # Every browser in the suite starts from 127.0.0.1: the enrolment rate limit (tested on its own
    # in tests/web/test_hostile_http.py) would otherwise count all of them as one client.
    return child_env(UXLAB_ENROL_LIMIT="0")


@pytest.fixture(scope="session")
def stack(services_env, tmp_path_factory):
    """uxlab's web process and a real Celery worker on the real Redis, storing into the test
    database, shared by the whole session: `stack.url`, `stack.worker`, `stack.second_url`."""
    stack = Stack(tmp_path_factory.mktemp("stack"), services_env)
    yield stack
    stack.close()


# --- One Chromium per session, a fresh context per test --------------------------------------------


@pytest.fixture(scope="session")
def chromium_path():
    path = os.environ.get("UXLAB_CHROMIUM", "/usr/bin/chromium")
    assert os.path.exists(path), f"Debian's chromium is needed at {path}: run `make test`, which installs it"
    return path


@pytest.fixture(scope="session")
def chromium(chromium_path):
    """Debian's chromium through Playwright's sync API, launched once for the session.

    Between its calls Playwright marks its event loop as the thread's running loop, which would
    make every later test look as if it ran inside an event loop (Django refuses ORM calls then, and
    pytest-asyncio cannot start its own loop): the loop is detached here and attached only while a
    test holds the `browser` fixture.
    """
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    browser.loop = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    yield browser
    asyncio.events._set_running_loop(browser.loop)
    browser.close()
    playwright.stop()
    asyncio.events._set_running_loop(None)


class FreshContexts:
    """What a test gets as `browser`: new contexts on the session's Chromium (so no cookies or storage
    carry over between tests), all closed when the test ends."""

    def __init__(self, chromium):
        self.chromium = chromium
        self.contexts = []

    def new_context(self, **options):
        context = self.chromium.new_context(**options)
        self.contexts.append(context)
        return context

    def new_page(self, **options):
        return self.new_context(**options).new_page()

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def browser(chromium):
    asyncio.events._set_running_loop(chromium.loop)
    contexts = FreshContexts(chromium)
    try:
        yield contexts
        contexts.close()
    finally:
        asyncio.events._set_running_loop(None)


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
            if connection.pool is not None:  # its idle connections were just ended too
                connection.close_pool()


# A screener (`ask: once`) to add to a study file's questions (tests/studies/test_once_questions.py,
# test_study_files_session.py).
SCREENER_QUESTION_YAML = """  - name: ai_use
    kind: likert
    ask: once
    scale: 3
    low_label: Never
    high_label: Daily
    text: How often do you use AI chat assistants?
"""
