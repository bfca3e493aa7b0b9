"""Migration 0012 merges the builder's StudyAudit into AuditEntry, the study's one audit log: every
row moves, in words and with its facts, and back again when the migration is reversed."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("studies", "0011_privacy_audit_related_name")]


def migrate(targets=None):
    """Migrate the test database to ``targets`` (the latest when None); the models of that state."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_builders_entries_move_into_the_one_audit_log_and_back():
    old = migrate(BEFORE)
    try:
        user = old.get_model("auth", "User").objects.create(username="alice")
        team = old.get_model("studies", "Team").objects.create(name="Lab", slug="lab")
        study = old.get_model("studies", "Study").objects.create(team=team, code="merge", title="Merge", version=2)
        StudyAudit, AuditEntry = old.get_model("studies", "StudyAudit"), old.get_model("studies", "AuditEntry")
        StudyAudit.objects.create(study=study, user=user, action="launch", detail="draft → live", version=1)
        AuditEntry.objects.create(study=study, action="participant_withdrawn", participant_number=7,
                                  detail={"by": "participant", "answers_deleted": 3})  # fmt: skip
        AuditEntry.objects.create(study=study, action="panel_ids_erased", detail={"count": 1, "retention_days": 90})
        StudyAudit.objects.create(study=study, user=None, action="pause", detail="Paused automatically", version=2)

        new = migrate()
        rows = new.get_model("studies", "AuditEntry").objects.filter(study_id=study.pk).order_by("id")
        assert [(e.action, e.detail, e.data, e.version, e.user_id, e.participant_number) for e in rows] == [
            ("participant_withdrawn", "Participant 7 withdrawn; 3 answers deleted",
             {"by": "participant", "answers_deleted": 3}, None, None, 7),
            ("panel_ids_erased", "1 panel id erased (sessions ended over 90 days ago)",
             {"count": 1, "retention_days": 90}, None, None, None),
            ("launch", "draft → live", {"by": "researcher"}, 1, user.pk, None),
            ("pause", "Paused automatically", {}, 2, None, None),
        ]  # fmt: skip

        old = migrate(BEFORE)
        changes = old.get_model("studies", "StudyAudit").objects.filter(study_id=study.pk).order_by("id")
        assert [(c.action, c.detail, c.version, c.user_id) for c in changes] == [
            ("launch", "draft → live", 1, user.pk), ("pause", "Paused automatically", 2, None)]
        privacy = old.get_model("studies", "AuditEntry").objects.filter(study_id=study.pk).order_by("id")
        assert [(e.action, e.detail) for e in privacy] == [
            ("participant_withdrawn", {"by": "participant", "answers_deleted": 3}),
            ("panel_ids_erased", {"count": 1, "retention_days": 90})]
    finally:
        migrate()
