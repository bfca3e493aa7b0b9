"""Withdrawal and the retention of panel ids: what uxlab deletes of a participant, and when.

A withdrawn participant (withdrawing themselves from any page, or withdrawn by an owner or editor of
the study's team) keeps a tombstone row: its number, study, token (so their link says they have
withdrawn), when they started, consented and withdrew, and who asked. Their trials, answers,
conflicting resends, browser telemetry, live responses, browser checks, dead letters and panel id
are deleted, so quotas count only people whose data is kept and nothing of theirs reaches analysis
or a download; stored export files of the study are deleted too (and exports running then are
stopped), as are the files with panel ids when panel ids are erased. Every withdrawal, every
retention erasure and every deletion of export files writes an AuditEntry.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from uxlab.studies import events
from uxlab.studies.actions.audit import record_audit
from uxlab.studies.actions.jobs import discard_export_files
from uxlab.studies.models import AuditEntry, ExternalIdentity, FailedTask, Participant, Trial
from uxlab.studies.raw_sql import in_chunks

log = logging.getLogger(__name__)

# The event sent to a withdrawn participant's open sockets (live/consumers.py closes them).
WITHDRAWN_EVENT = "session.withdrawn"


def withdraw_participant(participant, by, user=None):
    """Withdraw the participant and delete their data (see the module docstring); returns whether
    this call withdrew them (False when they had already withdrawn). ``by`` is a
    Participant.WithdrawnBy value; ``user`` the researcher who did it, if one did."""
    with transaction.atomic():
        locked = Participant.objects.select_for_update().filter(pk=participant.pk).first()
        if locked is None or locked.is_withdrawn:
            return False
        previous = locked.status
        answers = locked.ratings.count()
        # Trials cascade to their answers, telemetry and live responses; conflicts go with the answers.
        Trial.objects.filter(participant_id=locked.pk).delete()
        locked.rating_conflicts.all().delete()
        had_panel_id, _ = ExternalIdentity.objects.filter(participant_id=locked.pk).delete()
        # Dead letters of their answers (named by number) and telemetry (named by their group).
        FailedTask.objects.filter(Q(payload__participant_id=locked.pk) | Q(payload__group_name=locked.group_name)).delete()
        now = timezone.now()
        Participant.objects.filter(pk=locked.pk).update(
            status=Participant.Status.WITHDRAWN,
            withdrawn_at=now,
            withdrawn_by=by,
            panel_id_erased_at=now if had_panel_id else locked.panel_id_erased_at,
            checks={}, checked_at=None, layout="", instructions_seen_at=None, last_seen_at=None,
            expired_at=None, completed_at=None, completion_unconfirmed_at=None, unconfirmed_count=0,
            unconfirmed_reason="", assigned_at=None, assignment={}, assignment_seed="", outcome="",
            completion_code_shown="",
        )
        record_audit(
            locked.study_id, user, AuditEntry.Action.PARTICIPANT_WITHDRAWN,
            f"Participant {locked.pk} withdrawn; {answers} answer{'' if answers == 1 else 's'} deleted",
            participant_number=locked.pk,
            data={"by": by, "previous_status": previous, "answers_deleted": answers, "panel_id_erased": bool(had_panel_id)},
        )
        # Stored exports (background jobs' files) hold their rows too: deleted, or stopped while running.
        discard_export_files(locked.study_id, AuditEntry.Action.PARTICIPANT_WITHDRAWN, participant_number=locked.pk)
        events.send_event_on_commit(locked.group_name, {"type": WITHDRAWN_EVENT})
    log.info("participant %s of study %s withdrawn by the %s", locked.pk, locked.study_id, by)
    participant.refresh_from_db()
    return True


def find_participant_to_withdraw(study, number=None, panel_id=None):
    """The study's participant with this number or panel id (e.g. a PROLIFIC_PID), or None."""
    participants = study.participants.all()
    if number is not None:
        return participants.filter(pk=number).first()
    if panel_id:
        return participants.filter(external_identity__external_id=panel_id).first()
    return None


def session_ended_at():
    """When a participant's session ended: completed, expired, else last seen, else started."""
    return Coalesce("completed_at", "expired_at", "last_seen_at", "created_at", output_field=DateTimeField())


def erase_old_panel_ids(now=None, days=None):
    """Erase the panel ids (ExternalIdentity) of participants whose session ended more than
    ``days`` (UXLAB_PANEL_ID_RETENTION_DAYS) ago, with one AuditEntry per study; 0 days keeps them.
    A session still running was seen lately, so it is never touched. Returns how many were erased."""
    days = settings.UXLAB_PANEL_ID_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    due = (
        Participant.objects.annotate(ended_at=session_ended_at())
        .filter(external_identity__isnull=False, ended_at__lte=cutoff)
        .values_list("pk", "study_id")
    )
    by_study = {}
    for pk, study_id in due.iterator(chunk_size=2000):
        by_study.setdefault(study_id, []).append(pk)
    erased = 0
    for study_id, ids in by_study.items():
        with transaction.atomic():
            count = 0
            for chunk in in_chunks(ids):  # a statement takes at most 65,535 parameters
                count += ExternalIdentity.objects.filter(participant_id__in=chunk).delete()[0]
                Participant.objects.filter(pk__in=chunk).update(panel_id_erased_at=now)
            record_audit(
                study_id, None, AuditEntry.Action.PANEL_IDS_ERASED,
                f"{count} panel id{'' if count == 1 else 's'} erased (sessions ended over {days} days ago)",
                data={"count": count, "retention_days": days, "ended_before": cutoff.isoformat()},
            )
            discard_export_files(study_id, AuditEntry.Action.PANEL_IDS_ERASED, panel_ids_only=True)
        erased += count
    if erased:
        log.info("erased %d panel ids of sessions that ended more than %d days ago", erased, days)
    return erased
