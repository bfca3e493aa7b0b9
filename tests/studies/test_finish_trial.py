"""Finishing a trial's stream (actions.finish_trial): once, in one statement, keeping the server's
send timing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from uxlab.studies import actions
from uxlab.studies.models import Trial

pytestmark = pytest.mark.django_db

TIMING = {"messages": 80, "send_lateness_ms": {"p50": 0.25, "p99": 1.5, "max": 2.125}}


def test_it_marks_a_streaming_trial_finished_with_its_send_timing_in_one_query(participant):
    other_participant = actions.give_consent(actions.enroll_participant(participant.study))
    actions.start_trial(other_participant.pk, 0)
    actions.start_trial(participant.pk, 0)
    with CaptureQueriesContext(connection) as queries:
        actions.finish_trial(participant.pk, 0, TIMING)
    assert len(queries) == 1
    trial = Trial.objects.get(participant=participant, index=0)
    assert trial.status == Trial.Status.FINISHED and trial.finished_at is not None
    assert trial.server_timing == TIMING
    other = Trial.objects.get(participant=other_participant, index=0)
    assert other.status == Trial.Status.STREAMING and other.finished_at is None and other.server_timing == {}


def test_it_keeps_the_first_finish_time_and_status_and_the_latest_timing(participant):
    actions.start_trial(participant.pk, 0)
    actions.finish_trial(participant.pk, 0, TIMING)
    first = Trial.objects.get(participant=participant, index=0)
    Trial.objects.filter(pk=first.pk).update(status=Trial.Status.SKIPPED)
    actions.finish_trial(participant.pk, 0, {"messages": 0})
    trial = Trial.objects.get(pk=first.pk)
    assert trial.finished_at == first.finished_at and trial.status == Trial.Status.SKIPPED
    assert trial.server_timing == {"messages": 0}
    actions.finish_trial(participant.pk, 0)  # no timing: the stored one stays
    assert Trial.objects.get(pk=first.pk).server_timing == {"messages": 0}


def test_it_finishes_an_interrupted_trial_and_ignores_an_unknown_one(participant):
    actions.start_trial(participant.pk, 0)
    actions.interrupt_trial(participant.pk, 0, "gap")
    actions.finish_trial(participant.pk, 0)
    trial = Trial.objects.get(participant=participant, index=0)
    assert trial.status == Trial.Status.FINISHED and trial.server_timing == {"interrupted": "gap"}
    actions.finish_trial(participant.pk, 99, TIMING)  # no such trial: nothing changes, nothing raised
    assert not Trial.objects.filter(server_timing=TIMING).exists()
