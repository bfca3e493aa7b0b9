"""Ending sessions that ran out of time or were abandoned (run by beat)."""

from datetime import timedelta

from django.utils import timezone

from uxlab.studies.models import Participant


def expire_sessions(now=None):
    """End sessions past the study's time limit or abandoned (not seen for a while); frees their cells.

    Returns how many participants were expired. Completed, declined and unconsented sessions hold no
    cells, so only consented, unfinished ones are considered.
    """
    now = now or timezone.now()
    expired = 0
    candidates = Participant.objects.filter(
        status=Participant.Status.CONSENTED, completed_at__isnull=True
    ).select_related("study")
    for participant in candidates.iterator(chunk_size=500):
        session = participant.study.session
        over_limit = participant.consented_at <= now - timedelta(minutes=session.time_limit_minutes)
        last_seen = participant.last_seen_at or participant.consented_at
        abandoned = last_seen <= now - timedelta(minutes=session.abandon_after_minutes)
        if over_limit or abandoned:
            expired += Participant.objects.filter(
                pk=participant.pk, status=Participant.Status.CONSENTED, completed_at__isnull=True
            ).update(status=Participant.Status.EXPIRED, expired_at=now)
    return expired
