"""The participant's steps over HTTP: entry, checks, consent, instructions, and where reloads land."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from uxlab.studies import actions, tasks
from uxlab.studies.models import ExternalIdentity, Participant

GOOD_CHECKS = {
    "viewport_width": 1280, "viewport_height": 800, "device_pixel_ratio": 1, "refresh_hz": 60,
    "frame_ms_median": 16.7, "ws_rtt_ms_median": 3, "ws_rtt_ms_min": 2, "clock_offset_ms": 1.5,
    "clock_offset_spread_ms": 0.8, "pings": 8,
}  # fmt: skip


def post_checks(client, token, **changes):
    return client.post(f"/p/{token}/checks/", json.dumps({**GOOD_CHECKS, **changes}), content_type="application/json")


@pytest.mark.django_db
def test_it_allocates_nobody_until_start_and_then_walks_the_steps_in_order(client, study):
    assert client.get(f"/s/{study.code}/?PROLIFIC_PID=abc").status_code == 200
    assert Participant.objects.count() == 0

    response = client.post(f"/s/{study.code}/", {"PROLIFIC_PID": "abc", "STUDY_ID": "st"})
    participant = ExternalIdentity.objects.get(external_id="abc").participant
    token = participant.token
    # Each step's page sends the participant straight on to the next step's page (no hop through
    # their own page, which sends them to the same place).
    assert response.url == f"/p/{token}/checks/"
    assert client.get(f"/p/{token}/").url == f"/p/{token}/checks/"
    assert client.get(f"/p/{token}/trial/").url == f"/p/{token}/checks/"  # not yet: sent to the step they are on

    assert post_checks(client, token).json() == {"passed": True, "next_url": f"/p/{token}/consent/"}
    participant.refresh_from_db()
    assert participant.checks["clock_sync_quality"] == "good" and participant.layout == "side_by_side"
    assert client.get(f"/p/{token}/").url == f"/p/{token}/consent/"
    assert client.post(f"/p/{token}/consent/", {"decision": "agree"}).url == f"/p/{token}/instructions/"
    assert client.get(f"/p/{token}/").url == f"/p/{token}/instructions/"
    assert client.post(f"/p/{token}/instructions/").url == f"/p/{token}/trial/"
    assert client.get(f"/p/{token}/").url == f"/p/{token}/trial/"
    page = client.get(f"/p/{token}/trial/").content.decode()
    assert 'data-answering="after_both"' in page and 'data-layout="side_by_side"' in page
    assert "Trial 1 of 1" in page
    # The same id again: the same participant, at the same step.
    assert client.get(f"/s/{study.code}/?PROLIFIC_PID=abc").url == f"/p/{token}/"


@pytest.mark.django_db
def test_it_renders_a_questions_fields_anew_once_the_question_changes(client, participant):
    """Each question's fields are rendered once per process (views_participant.question_html) and
    kept by the values they are rendered from: an edit shows on the next page."""
    from uxlab.studies.models import Question

    Participant.objects.filter(pk=participant.pk).update(
        checked_at=timezone.now(), checks={"passed": True}, layout="side_by_side", instructions_seen_at=timezone.now()
    )
    url = f"/p/{participant.token}/trial/"
    first = client.get(url).content.decode()
    assert first.count('data-question="faster"') == 1 and "Which response felt faster?" in first
    # The kept fields are the same fields (the CSRF token's mask differs from page to page).
    def fields(page):
        form = re.search(r'<form id="answers".*?</form>', page, re.DOTALL).group(0)
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", form)

    assert fields(client.get(url).content.decode()) == fields(first)
    Question.objects.filter(study=participant.study, name="faster").update(
        text="Which one felt quicker?", options={"ask": "every_trial"}
    )
    again = client.get(url).content.decode()
    assert "Which one felt quicker?" in again and "Which response felt faster?" not in again
    Question.objects.filter(study=participant.study, name="faster").update(kind="forced_choice")
    assert 'value="tie"' in again and 'value="tie"' not in client.get(url).content.decode()


@pytest.mark.django_db
def test_it_refuses_malformed_check_results(client, study):
    token = actions.enroll_participant(study).token
    response = post_checks(client, token, refresh_hz="fast")
    assert response.status_code == 400 and response.json()["message"] == "refresh_hz must be a number"
    response = client.post(f"/p/{token}/checks/", "[1]", content_type="application/json")
    assert response.status_code == 400


def checks_body(**changes):
    return json.dumps({**GOOD_CHECKS, **changes})


def without(name):
    return json.dumps({key: value for key, value in GOOD_CHECKS.items() if key != name})


ABSURD_CHECKS = [
    ("not json at all", "the check results are not valid JSON"),
    (b"\xff\xfe\x00garbage", "the check results are not valid JSON"),
    ("", "the check results are not valid JSON"),
    ('{"viewport_width": 1280', "the check results are not valid JSON"),
    ("[1, 2, 3]", "the check results must be an object"),
    ('"a string"', "the check results must be an object"),
    ("null", "the check results must be an object"),
    (checks_body(refresh_hz=True), "refresh_hz must be a number"),
    (checks_body(refresh_hz="60"), "refresh_hz must be a number"),
    (checks_body(viewport_width=None), "viewport_width must be a number"),
    (checks_body(viewport_width=[1280]), "viewport_width must be a number"),
    (checks_body(pings={"n": 8}), "pings must be a number"),
    (without("device_pixel_ratio"), "device_pixel_ratio must be a number"),
    (checks_body(refresh_hz=5000), "refresh_hz must be between 0 and 1000"),
    (checks_body(viewport_height=-1), "viewport_height must be between 0 and 100000"),
    (checks_body(clock_offset_ms=-1e14), "clock_offset_ms must be between -1e+13 and 1e+13"),
    (checks_body(viewport_width=1e308), "viewport_width must be between 0 and 100000"),
    (checks_body(pings=10**400), "pings must be a number"),  # an integer no float can hold
    (checks_body(ws_rtt_ms_min=float("nan")), "ws_rtt_ms_min must be a number"),
    (checks_body(frame_ms_median=float("inf")), "frame_ms_median must be a number"),
    (checks_body(padding="x" * 5000), "the check results are too large"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("body, message", ABSURD_CHECKS)
def test_it_answers_absurd_check_results_with_a_400_naming_the_problem(client, study, body, message):
    participant = actions.enroll_participant(study)
    response = client.post(f"/p/{participant.token}/checks/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "bad_checks", "message": message}
    participant.refresh_from_db()
    assert participant.checks == {} and participant.layout == ""


@pytest.mark.django_db
def test_it_keeps_the_measured_checks_to_a_thousandth_and_ignores_unknown_fields(client, study):
    participant = actions.enroll_participant(study)
    assert post_checks(client, participant.token, device_pixel_ratio=1.23456, user_agent="x").json()["passed"]
    participant.refresh_from_db()
    assert participant.checks["device_pixel_ratio"] == 1.235 and "user_agent" not in participant.checks
    assert participant.checks["clock_sync_quality"] == "good"


@pytest.mark.django_db
def test_it_stacks_small_windows_only_when_the_study_allows_it(client, study):
    token = actions.enroll_participant(study).token
    assert post_checks(client, token, viewport_width=390).json()["passed"] is True
    assert Participant.objects.get(token=token).layout == "stacked"

    study.design = {**study.design, "allow_stacked": False}
    study.save()
    token = actions.enroll_participant(study).token
    assert post_checks(client, token, viewport_width=390).json() == {"passed": False, "next_url": None}


@pytest.mark.django_db
def test_it_reads_another_panels_participant_parameter(client, study):
    study.design = {**study.design, "participant_param": "workerId"}
    study.save()
    client.post(f"/s/{study.code}/", {"workerId": "w-1"})
    assert ExternalIdentity.objects.get().panel == "external"
    client.post(f"/s/{study.code}/", {"workerId": "w-1"})
    assert Participant.objects.count() == 1


@pytest.mark.django_db
def test_it_expires_sessions_past_the_time_limit_and_shows_that_on_return(client, participant):
    assert tasks.expire_sessions() == 0
    Participant.objects.filter(pk=participant.pk).update(
        consented_at=timezone.now() - timedelta(minutes=61), last_seen_at=timezone.now()
    )
    assert tasks.expire_sessions() == 1
    assert "session has ended" in client.get(f"/p/{participant.token}/").content.decode()


def test_it_schedules_the_expiry_task_on_beat(settings):
    assert settings.CELERY_BEAT_SCHEDULE["expire-sessions"]["task"] == "uxlab.studies.tasks.expire_sessions"


@pytest.mark.parametrize("url, shown", [("", "copy-code-note"), ("https://app.prolific.com/submissions/complete?cc=QUICK123", "completion-link")])
def test_the_done_page_says_where_the_code_goes(client, team, url, shown):
    """Without a URL back to the panel, the participant is told to enter the code there, not just
    to close the page; with one, the page sends them back."""
    from tests.conftest import QUICK_STUDY_YAML, import_yaml
    from uxlab.studies.models import Participant

    text = QUICK_STUDY_YAML.replace("  code: QUICK123", f"  code: QUICK123\n  url: {url}") if url else QUICK_STUDY_YAML
    study = import_yaml(text, team)
    participant = actions.give_consent(actions.enroll_participant(study))
    Participant.objects.filter(pk=participant.pk).update(completion_unconfirmed_at=study.created_at,
                                                         checks={"passed": True}, checked_at=study.created_at,
                                                         instructions_seen_at=study.created_at)
    html = client.get(reverse("web:done", args=[participant.token])).content.decode()
    assert 'id="completion-code">QUICK123<' in html and f'id="{shown}"' in html
    assert "<p>You can close this page.</p>" not in html
