"""The participant's steps over HTTP: entry, checks, consent, instructions, and where reloads land."""

import json
from datetime import timedelta

import pytest
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
    assert response.url == f"/p/{token}/"
    assert client.get(f"/p/{token}/").url == f"/p/{token}/checks/"
    assert client.get(f"/p/{token}/trial/").url == f"/p/{token}/"  # not yet

    assert post_checks(client, token).json() == {"passed": True, "next_url": f"/p/{token}/"}
    participant.refresh_from_db()
    assert participant.checks["clock_sync_quality"] == "good" and participant.layout == "side_by_side"
    assert client.get(f"/p/{token}/").url == f"/p/{token}/consent/"
    client.post(f"/p/{token}/consent/", {"decision": "agree"})
    assert client.get(f"/p/{token}/").url == f"/p/{token}/instructions/"
    client.post(f"/p/{token}/instructions/")
    assert client.get(f"/p/{token}/").url == f"/p/{token}/trial/"
    page = client.get(f"/p/{token}/trial/").content.decode()
    assert 'data-answering="after_both"' in page and 'data-layout="side_by_side"' in page
    assert "Trial 1 of 1" in page
    # The same id again: the same participant, at the same step.
    assert client.get(f"/s/{study.code}/?PROLIFIC_PID=abc").url == f"/p/{token}/"


@pytest.mark.django_db
def test_it_refuses_malformed_check_results(client, study):
    token = actions.enroll_participant(study).token
    response = post_checks(client, token, refresh_hz="fast")
    assert response.status_code == 400 and response.json()["message"] == "refresh_hz must be a number"
    response = client.post(f"/p/{token}/checks/", "[1]", content_type="application/json")
    assert response.status_code == 400


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
