"""Enrolment: a new participant for a study, a panel id that already started, and the per-client
rate limit on starting (docs/reliability.md, "Hostile participants")."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from uxlab.studies.models import EnrolmentThrottle, ExternalIdentity, Participant


class AlreadyStarted(Exception):
    """This panel id already belongs to a participant of the study (``participant``)."""

    def __init__(self, participant):
        super().__init__("this participant id has already started")
        self.participant = participant


class EnrolmentThrottled(Exception):
    """The client started too many participants lately; ``retry_after_s`` says when it may again."""

    def __init__(self, retry_after_s):
        super().__init__("too many participants started from this client")
        self.retry_after_s = retry_after_s


def enroll_participant(study, *, panel=None, external_id=None, panel_study_id="", panel_session_id=""):
    """A new participant of this study. A panel id that already started raises AlreadyStarted:
    the id alone never hands over that participant (the caller decides whether this browser owns it)."""
    if not external_id:
        return Participant.objects.create(study=study, study_version=study.version)
    existing = find_participant_by_external_id(study, panel, external_id)
    if existing is not None:
        raise AlreadyStarted(existing)
    try:
        with transaction.atomic():
            participant = Participant.objects.create(study=study, study_version=study.version)
            ExternalIdentity.objects.create(
                participant=participant,
                study=study,
                panel=panel,
                external_id=external_id,
                panel_study_id=panel_study_id or "",
                panel_session_id=panel_session_id or "",
            )
            return participant
    except IntegrityError:
        # A concurrent request enrolled the same id first.
        raise AlreadyStarted(find_participant_by_external_id(study, panel, external_id)) from None


def find_participant_by_external_id(study, panel, external_id):
    identity = (
        ExternalIdentity.objects.filter(study=study, panel=panel, external_id=external_id)
        .select_related("participant")
        .first()
    )
    return identity.participant if identity else None


def record_other_device_attempt(participant):
    """Someone opened the study with this participant's panel id from another browser: keep count,
    so researchers see it (study page, participants export)."""
    ExternalIdentity.objects.filter(participant=participant).update(
        other_device_attempts=F("other_device_attempts") + 1, last_other_device_attempt_at=timezone.now()
    )


def throttle_enrolment(client, *, limit, window_s, now=None):
    """Count one enrolment by ``client`` (a keyed hash, never an address) in the current window.

    Raises EnrolmentThrottled when the client already started ``limit`` participants in this
    window; ``limit`` 0 turns the limit off.
    """
    if limit <= 0:
        return
    now = now or timezone.now()
    window_s = max(1, int(window_s))
    start_epoch = int(now.timestamp()) // window_s * window_s
    window_start = datetime.fromtimestamp(start_epoch, tz=dt_timezone.utc)
    retry_after_s = max(1, start_epoch + window_s - int(now.timestamp()))
    rows = EnrolmentThrottle.objects.filter(client=client, window_start=window_start)
    if not rows.filter(count__lt=limit).update(count=F("count") + 1):
        if rows.exists():
            raise EnrolmentThrottled(retry_after_s)
        try:
            with transaction.atomic():
                EnrolmentThrottle.objects.create(client=client, window_start=window_start, count=1)
        except IntegrityError:
            # Another request of the same client created the row first: count on it.
            if not rows.filter(count__lt=limit).update(count=F("count") + 1):
                raise EnrolmentThrottled(retry_after_s) from None


def prune_enrolment_throttles(window_s, now=None):
    """Forget the counts of windows that are over (run by the expiry task)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=max(1, int(window_s)))
    return EnrolmentThrottle.objects.filter(window_start__lt=cutoff).delete()[0]
