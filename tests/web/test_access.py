"""Every researcher page, download, API endpoint and write action goes through the access helper:
alice (owner) and bob (viewer teammate) see the study, charlie (outsider) gets 404 everywhere and
sees nothing in any list."""

import pytest
from django.urls import URLPattern, get_resolver, reverse

from uxlab.analysis.export import FORMATS

pytestmark = pytest.mark.django_db

TABLES = ["participants", "trials", "ratings", "events", "telemetry"]

# Every page or download that shows one study's data: (url name, extra kwargs).
READ_PAGES = [
    ("web:study_detail", {}),
    ("web:ratings_csv", {}),
    ("web:results", {}),
    ("web:monitor", {}),
    ("web:fidelity", {}),
    ("web:download_psychds", {}),
    ("web:download_summary", {}),
    ("web:download_free_text", {"question": "comment"}),
    ("web:prolific", {}),
    ("web:study_jobs", {}),
    *[("web:download_table", {"table": table, "fmt": fmt}) for table in TABLES for fmt in FORMATS],
]
WRITE_ACTIONS = ["web:pause", "web:resume"]
# Background jobs started by a POST: tests/web/test_workspace_jobs.py covers who may start them.
JOB_STARTS = ["web:start_export", "web:start_recording"]
# Researcher pages with a study code tested in a file of their own (who may use them, and how).
TESTED_ELSEWHERE = {"withdraw_participant"}  # tests/web/test_withdrawal.py
API_ENDPOINTS = [
    ("web:api_study", {}, ""),
    ("web:api_results", {}, ""),
    ("web:api_psychds", {}, ""),
    *[("web:api_export", {"table": table}, f"?format={fmt}") for table in TABLES for fmt in FORMATS],
]
# The builder's pages and actions: owners and editors only (a viewer gets the outsider's 404).
BUILDER_PAGES = [
    ("web:builder", {}), ("web:builder_yaml", {}), ("web:builder_section", {"name": "arms"}),
    ("web:builder_item_new", {"name": "prompts"}), ("web:builder_item", {"name": "prompts", "index": 0}),
    ("web:pilot", {}), ("web:delete_pilot_data", {}), ("web:builder_adaptive", {}),
]
BUILDER_ACTIONS = [
    ("web:builder_item_change", {"name": "questions", "index": 0, "change": "down"}), ("web:preview", {}),
    ("web:change_status", {"action": "pause"}),
]
# URL names with a study code that are not researcher data (the participant's public entry page,
# and the pilot link, which holds its own key: tests/web/test_builder_pilot.py).
PUBLIC_WITH_CODE = {"study_entry", "pilot_entry"}


@pytest.fixture(scope="module")
def _cast(request, django_db_setup, django_db_blocker):
    """The conftest cast and a rated study, made once for the module's ~60 tests
    (rows_for_the_module: each test sees them as made). The study's code is not conftest's, so a
    test may still import a fresh `study` beside it."""
    from tests.conftest import QUICK_STUDY_YAML, import_yaml, make_user, rows_for_the_module
    from tests.web.conftest import add_answers
    from uxlab.studies.models import Team

    def make():
        team = Team.objects.create(name="Perception lab", slug="perception-lab")
        other_team = Team.objects.create(name="Other lab", slug="other-lab")
        rated = add_answers(import_yaml(QUICK_STUDY_YAML.replace("\ncode: quick\n", "\ncode: rated\n"), team))
        return {"team": team.pk, "other_team": other_team.pk, "rated_study": rated.pk,
                "alice": make_user("alice", team, "owner").pk, "bob": make_user("bob", team, "viewer").pk,
                "charlie": make_user("charlie", other_team, "owner").pk}

    yield from rows_for_the_module(request, django_db_blocker, make)


@pytest.fixture
def team(_cast):
    from uxlab.studies.models import Team

    return Team.objects.get(pk=_cast["team"])


@pytest.fixture
def other_team(_cast):
    from uxlab.studies.models import Team

    return Team.objects.get(pk=_cast["other_team"])


@pytest.fixture
def rated_study(_cast):
    from uxlab.studies.models import Study

    return Study.objects.get(pk=_cast["rated_study"])


def user_of(cast, name):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(pk=cast[name])


@pytest.fixture
def alice(_cast):
    return user_of(_cast, "alice")


@pytest.fixture
def bob(_cast):
    return user_of(_cast, "bob")


@pytest.fixture
def charlie(_cast):
    return user_of(_cast, "charlie")


def study_url(name, study, kwargs):
    return reverse(name, kwargs={"code": study.code, **kwargs})


def login(client, user):
    client.force_login(user)
    return client


def test_it_covers_every_url_that_takes_a_study_code():
    tested = {name.split(":")[1] for name, _ in READ_PAGES} | {n.split(":")[1] for n in WRITE_ACTIONS}
    tested |= {name.split(":")[1] for name, _, _ in API_ENDPOINTS} | {name.split(":")[1] for name in JOB_STARTS}
    tested |= {name.split(":")[1] for name, _ in BUILDER_PAGES + BUILDER_ACTIONS} | TESTED_ELSEWHERE
    with_code = set()
    for pattern in get_resolver("uxlab.web.urls").url_patterns:
        assert isinstance(pattern, URLPattern)
        if "<slug:code>" in str(pattern.pattern) or "<str:code>" in str(pattern.pattern):
            with_code.add(pattern.name)
    assert with_code - PUBLIC_WITH_CODE == tested


@pytest.mark.parametrize("name, kwargs", BUILDER_PAGES + BUILDER_ACTIONS)
def test_it_lets_only_owners_and_editors_use_the_builder(client, rated_study, alice, bob, charlie, name, kwargs):
    url = study_url(name, rated_study, kwargs)
    post = (name, kwargs) in BUILDER_ACTIONS
    for user in (charlie, bob):  # an outsider, and a viewer of the team
        response = (login(client, user).post if post else login(client, user).get)(url)
        assert response.status_code == 404 and rated_study.title not in response.content.decode()
    response = (login(client, alice).post if post else login(client, alice).get)(url)
    assert response.status_code == (302 if post else 200)


@pytest.mark.parametrize("name, kwargs", READ_PAGES)
def test_it_shows_team_members_the_study_and_outsiders_a_404(client, rated_study, alice, bob, charlie, name, kwargs):
    url = study_url(name, rated_study, kwargs)
    for user, expected in ((alice, 200), (bob, 200), (charlie, 404)):
        response = login(client, user).get(url)
        assert response.status_code == expected, (user.username, url)
        if expected == 404:
            body = response.content.decode()
            assert rated_study.title not in body and "fast_arm" not in body
        elif response.streaming:
            content = b"".join(response.streaming_content)
            assert content or kwargs.get("fmt") == "jsonl"  # an empty table is an empty JSON Lines file
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


@pytest.mark.parametrize("name", WRITE_ACTIONS)
def test_it_lets_only_owners_and_editors_pause_and_resume(client, rated_study, alice, bob, charlie, name):
    url = study_url(name, rated_study, {})
    assert login(client, charlie).post(url).status_code == 404
    assert login(client, bob).post(url).status_code == 404  # bob is a viewer
    assert login(client, alice).post(url).status_code == 302
    assert login(client, alice).get(url).status_code == 405


def test_it_pauses_and_resumes_the_study(client, study, alice):
    login(client, alice).post(reverse("web:pause", args=[study.code]))
    study.refresh_from_db()
    assert study.status == "paused"
    client.post(reverse("web:resume", args=[study.code]))
    study.refresh_from_db()
    assert study.status == "live"


@pytest.mark.parametrize("name, kwargs, query", API_ENDPOINTS)
def test_it_serves_the_api_only_to_tokens_of_team_members(client, rated_study, tokens, name, kwargs, query):
    url = study_url(name, rated_study, kwargs) + query
    for username, expected in (("alice", 200), ("bob", 200), ("charlie", 404)):
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {tokens[username]}")
        assert response.status_code == expected, (username, url)
        if expected == 404:
            assert response.json()["error"]["code"] == "not_found"
            assert rated_study.title.encode() not in response.content
    assert client.get(url).status_code == 401


def test_it_lists_nothing_of_other_teams(client, rated_study, alice, charlie, tokens):
    assert rated_study.code in login(client, alice).get(reverse("web:study_list")).content.decode()
    page = login(client, charlie).get(reverse("web:study_list")).content.decode()
    assert rated_study.code not in page and rated_study.title not in page
    listed = client.get(reverse("web:api_studies"), HTTP_AUTHORIZATION=f"Bearer {tokens['charlie']}").json()
    assert listed == {"studies": []}
    listed = client.get(reverse("web:api_studies"), HTTP_AUTHORIZATION=f"Bearer {tokens['bob']}").json()
    assert [s["code"] for s in listed["studies"]] == [rated_study.code]


def test_it_gives_panel_ids_only_to_owners_and_logs_it(client, rated_study, alice, bob):
    from uxlab.studies.models import ExportAudit, ExternalIdentity

    participant = rated_study.participants.first()
    ExternalIdentity.objects.create(participant=participant, study=rated_study, external_id="PID-SECRET-1")
    url = reverse("web:download_table", args=[rated_study.code, "participants", "csv"])
    plain = b"".join(login(client, alice).get(url).streaming_content)
    assert b"PID-SECRET-1" not in plain and b"external_id" not in plain
    assert login(client, bob).get(url + "?external_ids=1").status_code == 404
    assert not ExportAudit.objects.exists()
    with_ids = b"".join(login(client, alice).get(url + "?external_ids=1").streaming_content)
    assert b"PID-SECRET-1" in with_ids
    audit = ExportAudit.objects.get()
    assert (audit.user, audit.study, audit.table) == (alice, rated_study, "participants")
