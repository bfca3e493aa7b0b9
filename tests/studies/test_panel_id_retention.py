"""Retention of panel ids: beat's task erases the PROLIFIC_PIDs of sessions that ended more than
UXLAB_PANEL_ID_RETENTION_DAYS ago, audited per study, and never touches a session still running."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from uxlab.analysis.rows import ExportOptions, export_tables
from uxlab.celery import app
from uxlab.studies import actions, tasks
from uxlab.studies.models import AuditEntry, ExternalIdentity, Participant

pytestmark = pytest.mark.django_db


def with_panel_id(study, pid, **fields):
    participant = actions.enroll_participant(study, panel="prolific", external_id=pid)
    Participant.objects.filter(pk=participant.pk).update(**fields)
    return participant


def ago(days):
    return timezone.now() - timedelta(days=days)


def test_the_task_erases_panel_ids_of_sessions_that_ended_long_ago(study, team, settings):
    settings.UXLAB_PANEL_ID_RETENTION_DAYS = 30
    old_done = with_panel_id(study, "OLD-DONE", created_at=ago(100), completed_at=ago(99), status="completed")
    old_expired = with_panel_id(study, "OLD-EXPIRED", created_at=ago(100), expired_at=ago(99), status="expired")
    old_left = with_panel_id(study, "OLD-LEFT", created_at=ago(100), last_seen_at=ago(95))  # never consented
    recent = with_panel_id(study, "RECENT", created_at=ago(11), completed_at=ago(10), status="completed")
    # Started long ago but seen a minute ago: still running, kept.
    running = with_panel_id(study, "RUNNING", created_at=ago(100), consented_at=ago(100), last_seen_at=ago(0),
                            status="consented")
    other_study = import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: quick-2"), team)
    elsewhere = with_panel_id(other_study, "OLD-ELSEWHERE", created_at=ago(40), completed_at=ago(31))

    assert tasks.erase_panel_ids.apply().get() == 4

    kept = set(ExternalIdentity.objects.values_list("external_id", flat=True))
    assert kept == {"RECENT", "RUNNING"}
    for participant in (old_done, old_expired, old_left, elsewhere):
        participant.refresh_from_db()
        assert participant.panel_id_erased_at is not None and participant.status != "withdrawn"
    for participant in (recent, running):
        participant.refresh_from_db()
        assert participant.panel_id_erased_at is None
    entries = {entry.study_id: entry for entry in AuditEntry.objects.all()}
    assert entries[study.pk].action == "panel_ids_erased" and entries[study.pk].data["count"] == 3
    assert entries[other_study.pk].data["count"] == 1 and entries[other_study.pk].user is None
    assert entries[study.pk].detail == "3 panel ids erased (sessions ended over 30 days ago)"
    # The participants stay in the downloads, without a panel id.
    rows = list(export_tables(True)["participants"].rows(study, ExportOptions(include_external_ids=True)))
    by_number = {row[1]: row for row in rows}
    assert by_number[old_done.pk][-3] is None and by_number[recent.pk][-3] == "RECENT"

    assert tasks.erase_panel_ids.apply().get() == 0  # nothing left to erase, no empty audit entries
    assert AuditEntry.objects.count() == 2


def test_it_erases_in_statements_of_a_bounded_number_of_ids(study, settings, monkeypatch):
    """A statement takes at most 65,535 parameters (bound on the server): the ids go in chunks."""
    from functools import partial

    from uxlab.studies.actions import privacy
    from uxlab.studies.raw_sql import in_chunks

    settings.UXLAB_PANEL_ID_RETENTION_DAYS = 30
    monkeypatch.setattr(privacy, "in_chunks", partial(in_chunks, size=2))
    for number in range(5):
        with_panel_id(study, f"OLD-{number}", created_at=ago(100), completed_at=ago(99), status="completed")
    assert actions.erase_old_panel_ids() == 5
    assert not ExternalIdentity.objects.exists()
    assert AuditEntry.objects.get().data["count"] == 5  # one audit entry for the study, all chunks counted


def test_zero_days_keeps_panel_ids(study, settings):
    settings.UXLAB_PANEL_ID_RETENTION_DAYS = 0
    with_panel_id(study, "KEPT", created_at=ago(1000), completed_at=ago(999), status="completed")
    assert tasks.erase_panel_ids.apply().get() == 0
    assert ExternalIdentity.objects.filter(external_id="KEPT").exists() and not AuditEntry.objects.exists()


def test_beat_runs_the_task_and_it_is_registered_with_the_worker():
    entry = django_settings.CELERY_BEAT_SCHEDULE["erase-panel-ids"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks and entry["schedule"] > 0
    assert django_settings.UXLAB_PANEL_ID_RETENTION_DAYS == 90  # the documented default
