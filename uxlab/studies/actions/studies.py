"""What researchers do to a whole study: counts, pause and resume, audited exports."""

import logging

from django.db.models import Sum

from uxlab.studies.models import ExportAudit, FailedTask, Participant, Rating, Study

log = logging.getLogger(__name__)


def study_counts(study):
    return {
        "participants": study.participants.count(),
        "consented": study.participants.filter(consented_at__isnull=False).count(),
        "completed": study.participants.filter(completed_at__isnull=False).count(),
        # Withdrawn participants are counted among participants, and their data is gone (actions/privacy.py).
        "withdrawn": study.participants.filter(status=Participant.Status.WITHDRAWN).count(),
        "ratings": Rating.objects.filter(participant__study=study).count(),
        "failed_tasks": FailedTask.objects.filter(study=study).count(),
        # Panel ids opened from a browser other than the one they started in (refused).
        "other_device_attempts": study.external_identities.aggregate(total=Sum("other_device_attempts"))["total"] or 0,
        "failed_attention": study.participants.filter(trials__attention_passed=False).distinct().count(),
    }


def pause_study(study):
    """Stop new participants from starting; those already inside can finish. Returns the new status."""
    Study.objects.filter(pk=study.pk, status=Study.Status.LIVE).update(status=Study.Status.PAUSED, paused_reason="")
    study.refresh_from_db(fields=["status", "paused_reason"])
    return study.status


def resume_study(study):
    """Open a paused study again (a pause of its own included). Returns the new status."""
    Study.objects.filter(pk=study.pk, status=Study.Status.PAUSED).update(status=Study.Status.LIVE, paused_reason="")
    study.refresh_from_db(fields=["status", "paused_reason"])
    return study.status


def record_external_id_export(study, user, table, fmt):
    """Log that an owner downloaded panel ids (PROLIFIC_PID) with the study's data."""
    log.info("user %s exported external ids of study %s (%s.%s)", user.pk, study.code, table, fmt)
    return ExportAudit.objects.create(study=study, user=user, table=table, format=fmt)


