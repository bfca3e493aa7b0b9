"""Ending sessions that ran out of time or were abandoned, and releasing reservations never used
(run by beat every minute); the deadline a participant's page warns about, and extending it."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from uxlab.studies.actions.adaptive import end_runs
from uxlab.studies.actions.enrolment import prune_enrolment_throttles
from uxlab.studies.events import send_events_on_commit
from uxlab.studies.models import Participant, Rating, Study, Trial
from uxlab.studies.raw_sql import in_chunks

log = logging.getLogger(__name__)

# A participant warned that their session is about to end may ask for more time (WCAG 2.2.1):
# each extension adds EXTENSION_MINUTES to the study's time limit and counts as being seen.
EXTENSION_MINUTES = 10
MAX_EXTENSIONS = 10

# A study whose stored limits cannot be used (hand-edited, or from before they were bounded).
BAD_LIMITS = (ArithmeticError, ValueError, TypeError, AttributeError, KeyError)


def expire_sessions(now=None):
    """End sessions past the study's time limit or abandoned (not seen for a while), freeing their
    cells; release the cells of participants who reserved them but never started a trial; forget
    old enrolment counts. Returns how many participants were expired.

    Completed, declined and unconsented sessions hold no cells, so only consented, unfinished ones
    are considered. A study with unusable limits is logged and skipped: it never stops the others.
    """
    now = now or timezone.now()
    expired = 0
    studies = Study.objects.filter(
        pk__in=Participant.objects.filter(status=Participant.Status.CONSENTED, completed_at__isnull=True).values(
            "study_id"
        )
    )
    for study in studies.iterator(chunk_size=200):
        try:
            session = study.session
            over_limit = now - timedelta(minutes=float(session.time_limit_minutes))
            abandoned = now - timedelta(minutes=float(session.abandon_after_minutes))
        except BAD_LIMITS as error:
            log.warning("study %s: its session limits cannot be used, so none of its sessions expire (%s)",
                        study.code, type(error).__name__)
            continue
        expired += expire_study_sessions(study, now, over_limit=over_limit, abandoned=abandoned)
    release_unstarted_reservations(now)
    prune_enrolment_throttles(settings.UXLAB_ENROL_WINDOW_S, now)
    return expired


def announce_session_closed(participant_ids, state):
    """Tell the participants' open sockets, once this transaction commits, that their session is
    over (`state`: expired or completed): they refuse answers from then on, without waiting for
    their next read of the session's state (live/consumers.py)."""
    send_events_on_commit((f"participant.{pk}", {"type": "session.closed", "state": state}) for pk in participant_ids)


def expire_study_sessions(study, now, *, over_limit, abandoned):
    """Expire the study's consented sessions that began before ``over_limit`` or were last seen
    before ``abandoned``; they get the timed-out outcome (and its code, if they reached a trial)."""
    running = Participant.objects.filter(study=study, status=Participant.Status.CONSENTED, completed_at__isnull=True)
    # Over the time limit with its extensions (one clause per count: duration arithmetic in SQL
    # is not portable to the embedded SQLite).
    over = Q()
    for count in range(MAX_EXTENSIONS + 1):
        over |= Q(time_extensions=count, consented_at__lte=over_limit - timedelta(minutes=EXTENSION_MINUTES * count))
    due = running.filter(
        over
        | Q(last_seen_at__lte=abandoned)
        | Q(last_seen_at__isnull=True, consented_at__lte=abandoned)
    )
    ids = list(due.values_list("pk", flat=True))
    if not ids:
        return 0
    code, _url = study.completion_for(Participant.Outcome.TIMED_OUT)
    expired = 0
    for chunk in in_chunks(ids):
        with transaction.atomic():
            expired += Participant.objects.filter(
                pk__in=chunk, status=Participant.Status.CONSENTED, completed_at__isnull=True
            ).update(status=Participant.Status.EXPIRED, expired_at=now)
            announce_session_closed(chunk, "expired")
            end_runs(chunk, now)
            Participant.objects.filter(pk__in=chunk, status=Participant.Status.EXPIRED, outcome="").update(
                outcome=Participant.Outcome.TIMED_OUT
            )
            if code:
                started = Trial.objects.filter(participant_id__in=chunk, started_at__isnull=False).values("participant_id")
                Participant.objects.filter(
                    pk__in=started, outcome=Participant.Outcome.TIMED_OUT, completion_code_shown=""
                ).update(completion_code_shown=code)
    return expired


def release_unstarted_reservations(now=None):
    """Give back the cells of participants who reserved them (reached the trial page) but started
    no trial within UXLAB_RELEASE_UNSTARTED_AFTER_S; they are reassigned if they come back.
    Returns how many reservations were released."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.UXLAB_RELEASE_UNSTARTED_AFTER_S)
    stale = (
        Participant.objects.filter(
            status=Participant.Status.CONSENTED, completed_at__isnull=True, assigned_at__lte=cutoff
        )
        .exclude(trials__started_at__isnull=False)
        .values_list("pk", flat=True)
    )
    released = 0
    for pk in list(stale):
        with transaction.atomic():
            locked = Participant.objects.select_for_update().filter(pk=pk, assigned_at__lte=cutoff).first()
            if locked is None:
                continue
            # Locking the trials makes a trial start that races with this wait, and then see no trial.
            started = Trial.objects.select_for_update().filter(participant_id=pk).values_list("started_at", flat=True)
            if any(value is not None for value in started) or Rating.objects.filter(participant_id=pk).exists():
                continue
            Trial.objects.filter(participant_id=pk).delete()
            Participant.objects.filter(pk=pk).update(assignment={}, assigned_at=None)
            released += 1
    return released


class CannotExtend(Exception):
    """The session is not running, or it was extended MAX_EXTENSIONS times already."""


def session_deadline(participant):
    """When the participant's running session will expire if nothing happens (the earlier of its
    time limit, with extensions, and its abandonment limit); None for a session not running."""
    if participant.status != participant.Status.CONSENTED or participant.consented_at is None:
        return None
    session = participant.study.session
    limit = participant.consented_at + timedelta(
        minutes=float(session.time_limit_minutes) + EXTENSION_MINUTES * participant.time_extensions
    )
    seen = participant.last_seen_at or participant.consented_at
    return min(limit, seen + timedelta(minutes=float(session.abandon_after_minutes)))


def extend_session(participant, now=None):
    """Give a running session EXTENSION_MINUTES more and mark it seen; returns the new deadline.

    Raises CannotExtend for a session not running or extended MAX_EXTENSIONS times already.
    """
    now = now or timezone.now()
    updated = Participant.objects.filter(
        pk=participant.pk,
        status=Participant.Status.CONSENTED,
        completed_at__isnull=True,
        time_extensions__lt=MAX_EXTENSIONS,
    ).update(time_extensions=F("time_extensions") + 1, last_seen_at=now)
    participant.refresh_from_db()
    if not updated:
        raise CannotExtend()
    return session_deadline(participant)
