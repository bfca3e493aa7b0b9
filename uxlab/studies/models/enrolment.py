"""Who a participant is to their panel, and how fast one client may enrol: kept apart from the
ratings (imported by models/__init__.py, which registers them with the app)."""

from django.db import models


class ExternalIdentity(models.Model):
    """A panel's identifiers for a participant (e.g. PROLIFIC_PID), kept apart from the ratings."""

    participant = models.OneToOneField("studies.Participant", on_delete=models.CASCADE, related_name="external_identity")
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="external_identities")
    panel = models.CharField(max_length=30, default="prolific")
    external_id = models.CharField(max_length=200)
    panel_study_id = models.CharField(max_length=200, blank=True)
    panel_session_id = models.CharField(max_length=200, blank=True)
    # Visits with this id from a browser that is not the one it started in (refused, not resumed).
    other_device_attempts = models.PositiveIntegerField(default=0)
    last_other_device_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["study", "panel", "external_id"], name="one_participant_per_external_id")
        ]


class EnrolmentThrottle(models.Model):
    """How many participants one client started in one time window (rate limit of enrolment).

    ``client`` is a keyed hash of the client's address, never the address; rows of past windows
    are deleted by the expiry task.
    """

    client = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "window_start"], name="one_throttle_per_window")]
