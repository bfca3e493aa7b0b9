"""What a researcher's workspace keeps besides studies: team invitations and background jobs
(large exports, trace recordings) with their progress and result files."""

import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def hash_secret(secret):
    """SHA-256 of an invitation's secret: only the hash is stored, so a database leak joins no team."""
    return hashlib.sha256(secret.encode()).hexdigest()


class TeamInviteQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class TeamInvite(models.Model):
    """An invitation to join a team with a role, sent by email as a link holding a secret.

    Single-use (accepted_at), expiring (expires_at), revocable; only the secret's SHA-256 is stored.
    It is accepted only by an account with the invited email address (or one made from the link).
    """

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("studies.Team", on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=[("owner", "Owner"), ("editor", "Editor"), ("viewer", "Viewer")])
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TeamInviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"invite of {self.email} to {self.team} ({self.role})"

    @property
    def state(self):
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class Job(models.Model):
    """Long work done by a worker for a study (a large export, a trace recording): its progress as
    `done` of `total` steps, and for an export the file it wrote (MEDIA_ROOT), downloaded through
    the study's team access."""

    class Kind(models.TextChoices):
        EXPORT = "export"
        RECORD_TRACES = "record_traces"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(default=dict)
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    file = models.FileField(upload_to="jobs/", blank=True, max_length=300)
    file_name = models.CharField(max_length=200, blank=True, help_text="The name the download is saved under.")
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    # The file holds panel ids (PROLIFIC_PID): only the team's owners may download it.
    owners_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.kind} of {self.study_id} ({self.status})"

    @property
    def progress(self):
        """Fraction done, 0 to 1 (1 once done; never 1 before)."""
        if self.status == self.Status.DONE:
            return 1.0
        if not self.total:
            return 0.0
        return min(self.done / self.total, 0.99)

    @property
    def finished(self):
        return self.status in {self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED}
