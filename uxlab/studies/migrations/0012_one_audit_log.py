# One audit log per study: the builder's StudyAudit rows move into AuditEntry (withdrawals, erased
# panel ids), which now holds every change to a study and every privacy event. AuditEntry.detail
# (the facts, JSON) becomes `data`; `detail` is now the entry in words, as StudyAudit's was.

import django.db.models.deletion
from django.db import migrations, models

PRIVACY_ACTIONS = ("participant_withdrawn", "panel_ids_erased", "export_files_deleted")


def plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def in_words(entry):
    """The words the privacy actions write (studies/actions/privacy.py) for an entry made before."""
    data = entry.data if isinstance(entry.data, dict) else {}
    if entry.action == "participant_withdrawn":
        return f"Participant {entry.participant_number} withdrawn; {plural(data.get('answers_deleted', 0), 'answer')} deleted"
    if entry.action == "panel_ids_erased":
        return f"{plural(data.get('count', 0), 'panel id')} erased (sessions ended over {data.get('retention_days')} days ago)"
    return ""


def merge_audit_logs(apps, schema_editor):
    AuditEntry = apps.get_model("studies", "AuditEntry")
    StudyAudit = apps.get_model("studies", "StudyAudit")
    for entry in AuditEntry.objects.all().iterator():
        entry.detail = in_words(entry)[:500]
        entry.save(update_fields=["detail"])
    AuditEntry.objects.bulk_create(
        (
            AuditEntry(
                study_id=change.study_id, user_id=change.user_id, action=change.action, detail=change.detail,
                version=change.version, data={"by": "researcher"} if change.user_id else {}, created_at=change.created_at,
            )
            for change in StudyAudit.objects.order_by("id").iterator()
        ),
        batch_size=1000,
    )


def split_audit_log(apps, schema_editor):
    AuditEntry = apps.get_model("studies", "AuditEntry")
    StudyAudit = apps.get_model("studies", "StudyAudit")
    changes = AuditEntry.objects.exclude(action__in=PRIVACY_ACTIONS)
    StudyAudit.objects.bulk_create(
        (
            StudyAudit(study_id=entry.study_id, user_id=entry.user_id, action=entry.action, detail=entry.detail,
                       version=entry.version or 1, created_at=entry.created_at)
            for entry in changes.order_by("id").iterator()
        ),
        batch_size=1000,
    )
    changes.delete()


class Migration(migrations.Migration):

    dependencies = [
        ('studies', '0011_privacy_audit_related_name'),
    ]

    operations = [
        migrations.RenameField(model_name='auditentry', old_name='detail', new_name='data'),
        migrations.AlterField(
            model_name='auditentry',
            name='data',
            field=models.JSONField(blank=True, default=dict, help_text='The facts for scripts: counts, who asked.'),
        ),
        migrations.AddField(
            model_name='auditentry',
            name='detail',
            field=models.CharField(blank=True, default='', help_text='What happened, in words.', max_length=500),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='auditentry',
            name='version',
            field=models.PositiveIntegerField(blank=True, help_text="The study's version after a change to the study.", null=True),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(max_length=40),
        ),
        migrations.RunPython(merge_audit_logs, split_audit_log),
        migrations.DeleteModel(name='StudyAudit'),
        migrations.AlterField(
            model_name='auditentry',
            name='study',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='audit_entries', to='studies.study'),
        ),
    ]
