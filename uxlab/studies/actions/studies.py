"""What researchers do to a whole study: counts, pause and resume, audited exports."""

import logging

from django.db.models import Sum

from uxlab.studies.actions.lifecycle import TransitionRefused, transition
from uxlab.studies.models import ExportAudit, FailedTask, Participant, Rating

log = logging.getLogger(__name__)


def study_counts(study):
    """The study page's counts of real participants (previews and pilots are counted apart)."""
    participants = study.participants.filter(mode="")
    return {
        "participants": participants.count(),
        "consented": participants.filter(consented_at__isnull=False).count(),
        "completed": participants.filter(completed_at__isnull=False).count(),
        "ratings": Rating.objects.filter(participant__study=study, participant__mode="").count(),
        "pilot": study.participants.filter(mode="pilot").count(),
        "preview": study.participants.filter(mode="preview").count(),
        # Withdrawn participants are counted among participants, and their data is gone (actions/privacy.py).
        "withdrawn": study.participants.filter(status=Participant.Status.WITHDRAWN).count(),
        "failed_tasks": FailedTask.objects.filter(study=study).count(),
        # Panel ids opened from a browser other than the one they started in (refused).
        "other_device_attempts": study.external_identities.aggregate(total=Sum("other_device_attempts"))["total"] or 0,
        "failed_attention": participants.filter(trials__attention_passed=False).distinct().count(),
    }


def pause_study(study, user=None):
    """Stop new participants from starting; those already inside can finish. Returns the new status
    (a study that is not live is left as it is). The lifecycle's pause step, audited."""
    return _step(study, "pause", user)


def resume_study(study, user=None):
    """Open a paused study again (a pause of its own included). Returns the new status."""
    return _step(study, "resume", user)


def _step(study, name, user):
    try:
        transition(study, name, user)
    except TransitionRefused:
        study.refresh_from_db(fields=["status", "paused_reason"])
    return study.status


def record_external_id_export(study, user, table, fmt):
    """Log that an owner downloaded panel ids (PROLIFIC_PID) with the study's data."""
    log.info("user %s exported external ids of study %s (%s.%s)", user.pk, study.code, table, fmt)
    return ExportAudit.objects.create(study=study, user=user, table=table, format=fmt)


