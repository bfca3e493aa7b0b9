"""What the study builder keeps beside a study: its draft document and its versions (its changes go
to the study's audit log, operations.AuditEntry).

The draft is the study file as a dict (docs/study-format.md), edited section by section in the web
builder and validated by the same schema as an imported YAML file (studies/study_files); while it
has problems it stays a draft, once valid it is what the study's rows were written from.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class StudyDraft(models.Model):
    """The builder's study file of one study: saved section by section, valid or not."""

    study = models.OneToOneField("studies.Study", on_delete=models.CASCADE, related_name="draft")
    document = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"draft of {self.study_id}"


class StudyVersion(models.Model):
    """The study file of one version of a study: version 1 at launch, one more per edit after it.
    Each participant records the version they started under (Participant.study_version)."""

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["study", "number"]
        constraints = [models.UniqueConstraint(fields=["study", "number"], name="one_row_per_study_version")]

    def __str__(self):
        return f"version {self.number} of study {self.study_id}"
