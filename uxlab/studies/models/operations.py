"""What running a study leaves besides its data: dead letters, API tokens, export audits and the
study's audit log (changes to the study, withdrawals, erased panel ids, deleted export files)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class FailedTask(models.Model):
    """A dead letter: work a Celery task gave up on after its bounded retries, kept for researchers.

    Nothing is silently dropped: the payload is exactly what the task was given, so it can be
    inspected and replayed (docs/reliability.md).
    """

    task_name = models.CharField(max_length=200)
    study = models.ForeignKey("studies.Study", null=True, blank=True, on_delete=models.SET_NULL, related_name="failed_tasks")
    key = models.UUIDField(null=True, blank=True, help_text="The idempotency key of the item, when it has one.")
    payload = models.JSONField()
    error = models.TextField()
    attempts = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.task_name} failed after {self.attempts} attempts"


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )


class ApiToken(models.Model):
    """A researcher's read-only API token. Only its SHA-256 is stored; the secret is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to tell tokens apart.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The token's scope: one team's studies, or one study; neither: every study its user can see.
    team = models.ForeignKey("studies.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self):
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def scope(self):
        return f"study {self.study.code}" if self.study_id else f"team {self.team.slug}" if self.team_id else "all your teams"

    def allows(self, study):
        """Whether this token may read ``study`` (its user's access is checked separately)."""
        return (self.study_id is None or self.study_id == study.pk) and (self.team_id is None or self.team_id == study.team_id)


class ExportAudit(models.Model):
    """A record that an owner downloaded panel ids (e.g. PROLIFIC_PID) with a study's data."""

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="export_audits")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    table = models.CharField(max_length=40)
    format = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)


class AuditEntry(models.Model):
    """One entry of a study's audit log, the one log of everything done to a study and its data:
    changes to the study (created, imported, a section edited, launched, paused, a new version,
    a preview, pilot data deleted) and privacy events (a participant withdrawn, panel ids erased,
    stored export files deleted because of either). Names participants by uxlab's number, never a
    token or a panel id; ``user`` is empty when a participant or uxlab itself did it."""

    class Action(models.TextChoices):
        """The privacy events. Changes to the study are named by the step that made them (``create``,
        ``import_yaml``, ``edit_<section>``, ``launch``, ``pause``, ``new_version``, ``preview`` ...)."""

        PARTICIPANT_WITHDRAWN = "participant_withdrawn"
        PANEL_IDS_ERASED = "panel_ids_erased"
        EXPORT_FILES_DELETED = "export_files_deleted"

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="audit_entries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=40)
    detail = models.CharField(max_length=500, blank=True, help_text="What happened, in words.")
    participant_number = models.PositiveBigIntegerField(null=True, blank=True)
    version = models.PositiveIntegerField(null=True, blank=True, help_text="The study's version after a change to the study.")
    data = models.JSONField(default=dict, blank=True, help_text="The facts for scripts: counts, who asked.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.action} in study {self.study_id}"

    @property
    def actor(self):
        """Who did it, as the study page says: the researcher, the participant, or uxlab itself."""
        if self.user_id is not None:
            return self.user.username
        by = self.data.get("by") if isinstance(self.data, dict) else None
        return {"participant": "the participant", "researcher": "a former team member"}.get(by, "uxlab (automatic)")
