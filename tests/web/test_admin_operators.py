"""The Django admin is for operators (superusers) only: it is not team-scoped, so a researcher of
team A, even one wrongly given the staff flag, sees nothing of team B there; and nobody sees raw
panel ids in it (owners download them from the study's results, audited)."""

import io

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import QUICK_STUDY_YAML, import_yaml, make_user
from uxlab.studies import actions
from uxlab.studies.models import ExternalIdentity

pytestmark = pytest.mark.django_db

ADMIN_PAGES = ("/admin/", "/admin/studies/study/", "/admin/studies/participant/", "/admin/studies/arm/",
               "/admin/studies/rating/", "/admin/auth/user/")


@pytest.fixture
def theirs(other_team):
    study = import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: theirs").replace(
        "title: Quick test study", "title: Team B secret study"), other_team)
    participant = actions.enroll_participant(study, panel="prolific", external_id="PID-RAW-B")
    return study, participant


@pytest.mark.parametrize("staff", [False, True])
def test_a_researcher_is_refused_at_the_admins_login_and_on_every_page(client, study, theirs, staff):
    researcher = make_user("rita", study.team, "owner")
    researcher.is_staff = staff
    researcher.save()
    response = client.post("/admin/login/", {"username": "rita", "password": "rita-password"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    if staff:
        assert "for the site&#x27;s operators only" in response.content.decode()
    client.force_login(researcher)  # logged in through the researcher pages
    for page in ADMIN_PAGES + (f"/admin/studies/study/{theirs[0].pk}/change/",):
        response = client.get(page)
        assert response.status_code == 302 and response.url.startswith("/admin/login/"), page
        body = client.get(page, follow=True).content.decode()
        assert "Team B secret study" not in body and "PID-RAW-B" not in body, page
    assert "/admin/" not in client.get("/studies/").content.decode()  # no Admin link for researchers


def test_an_operator_uses_the_admin_but_sees_no_raw_panel_ids(client, study, theirs):
    operator = get_user_model().objects.create_superuser("olga", password="olga-long-password")
    assert client.post("/admin/login/", {"username": "olga", "password": "olga-long-password"}).status_code == 302
    assert "Team B secret study" in client.get("/admin/studies/study/").content.decode()
    _study, participant = theirs
    for page in ("/admin/studies/participant/", f"/admin/studies/participant/{participant.pk}/change/"):
        response = client.get(page)
        assert response.status_code == 200 and "PID-RAW-B" not in response.content.decode(), page
    assert client.get("/admin/studies/externalidentity/").status_code == 404
    assert ExternalIdentity.objects.filter(external_id="PID-RAW-B").exists()
    assert operator.is_superuser


def test_the_demo_researcher_is_an_ordinary_user_the_admin_refuses(client, settings):
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("demo_setup", stdout=io.StringIO())
    demo = get_user_model().objects.get(username="researcher")
    assert not demo.is_staff and not demo.is_superuser
    response = client.post("/admin/login/", {"username": "researcher", "password": "uxlab-demo"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
