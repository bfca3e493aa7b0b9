"""Reserving a participant's trials locks the study's row so cell counts are read and raised
atomically (actions.reserve_trials), with a lock that lets enrolments go on meanwhile: a new
participant's foreign key check does not wait for the assignments in progress."""

import threading

import pytest
from django.db import close_old_connections, connection, transaction

from uxlab.studies import actions
from uxlab.studies.assignment import StudyFull
from uxlab.studies.models import Participant, Study

pytestmark = pytest.mark.django_db(transaction=True)


def consented(study):
    return actions.record_consent(actions.enroll_participant(study))


def test_an_enrolment_does_not_wait_for_an_assignment_in_progress(study):
    first = consented(study)
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                actions.lock_participant_and_study(first.pk)
                locked.set()
                release.wait(10)
        finally:
            close_old_connections()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")  # FOR UPDATE on the study: this would fail
            newcomer = actions.enroll_participant(study)
        assert Participant.objects.filter(pk=newcomer.pk).exists()
        # A change of the study itself still waits for the assignment (FOR UPDATE).
        with pytest.raises(Exception, match="lock timeout"):
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '200ms'")
                Study.objects.select_for_update().get(pk=study.pk)
    finally:
        release.set()
        holder.join(10)


def test_concurrent_reservations_never_pass_the_quota(study):
    Study.objects.filter(pk=study.pk).update(design={**study.design, "quota_per_cell": 3})
    participants = [consented(study) for _ in range(8)]
    outcomes, start = [], threading.Barrier(len(participants))

    def reserve(participant):
        try:
            start.wait(10)
            try:
                outcomes.append(bool(actions.reserve_trials(participant).assignment))
            except StudyFull:
                outcomes.append(False)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=reserve, args=(participant,)) for participant in participants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == [False] * 5 + [True] * 3
    assert actions.live_cell_counts(study) == {"0:greeting": 3}


def test_it_locks_the_study_before_the_participant(study):
    """As a draft's save does (the study, then its preview participants): the other order deadlocks."""
    participant = consented(study)
    study_locked, reserving_done, errors = threading.Event(), threading.Event(), []

    def reserve():
        try:
            assert study_locked.wait(10)
            with transaction.atomic():
                actions.lock_participant_and_study(participant.pk)  # waits for the study
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            reserving_done.set()
            close_old_connections()

    reserver = threading.Thread(target=reserve)
    reserver.start()
    try:
        with transaction.atomic():
            Study.objects.select_for_update().get(pk=study.pk)
            study_locked.set()
            reserving_done.wait(0.5)  # the reservation is now waiting for the study's row
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '3s'")
            # The participant's row is free: the waiting reservation has not locked it first.
            Participant.objects.select_for_update().get(pk=participant.pk)
    finally:
        reserver.join(10)
    assert errors == [] and reserving_done.is_set()
