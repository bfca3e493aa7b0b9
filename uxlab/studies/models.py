"""The data uxlab owns: teams, studies and their parts, participants, trials and ratings."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_study_code():
    return secrets.token_hex(4)


def new_participant_token():
    return secrets.token_urlsafe(24)


def new_completion_code():
    return secrets.token_hex(4).upper()


class Team(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        EDITOR = "editor"
        VIEWER = "viewer"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_write(self):
        return self.role in {self.Role.OWNER, self.Role.EDITOR}


class StudyQuerySet(models.QuerySet):
    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        return self.filter(team__memberships__user=user).distinct()

    def writable_by(self, user):
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            team__memberships__user=user,
            team__memberships__role__in=[Membership.Role.OWNER, Membership.Role.EDITOR],
        ).distinct()


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        LIVE = "live"
        PAUSED = "paused"
        CLOSED = "closed"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="studies")
    code = models.SlugField(max_length=40, unique=True, default=new_study_code)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    consent_text = models.TextField()
    consent_version = models.CharField(max_length=40, default="1")
    instructions = models.TextField(blank=True)
    completion_code = models.CharField(max_length=40, default=new_completion_code)
    completion_url = models.URLField(blank=True)
    # Which pairs of arms each participant sees (by arm name) and the base seed of their order.
    design = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self):
        return f"{self.title} ({self.code})"

    @property
    def is_open(self):
        return self.status == self.Status.LIVE


class Arm(models.Model):
    """A latency condition. Its name and profile stay on the server: participants see only A/B."""

    class Kind(models.TextChoices):
        SYNTHETIC = "synthetic"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    name = models.SlugField(max_length=60)
    label = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=300, blank=True, help_text="Where the profile's figures come from.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SYNTHETIC)
    # Parameters of the latency profile, validated by studies.study_files before they get here.
    profile = models.JSONField(default=dict)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="unique_arm_name")]

    def __str__(self):
        return self.name


class Prompt(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="prompts")
    name = models.SlugField(max_length=60)
    text = models.TextField()
    response = models.TextField()
    reasoning = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="unique_prompt_name")]

    def __str__(self):
        return self.name


class Question(models.Model):
    class Kind(models.TextChoices):
        FORCED_CHOICE = "forced_choice"
        FORCED_CHOICE_TIE = "forced_choice_tie"

    CHOICES = {
        Kind.FORCED_CHOICE: [("A", "A"), ("B", "B")],
        Kind.FORCED_CHOICE_TIE: [("A", "A"), ("B", "B"), ("tie", "No difference")],
    }

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="questions")
    name = models.SlugField(max_length=60)
    kind = models.CharField(max_length=30, choices=Kind.choices, default=Kind.FORCED_CHOICE_TIE)
    text = models.CharField(max_length=500)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="unique_question_name")]

    def __str__(self):
        return self.name

    @property
    def choices(self):
        return self.CHOICES[self.kind]

    def allows(self, value):
        return any(value == choice for choice, _label in self.choices)


class Participant(models.Model):
    class Status(models.TextChoices):
        STARTED = "started"
        CONSENTED = "consented"
        COMPLETED = "completed"
        DECLINED = "declined"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    token = models.CharField(max_length=64, unique=True, default=new_participant_token)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.STARTED)
    assignment_seed = models.CharField(max_length=64, blank=True)
    consent_version = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    consented_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"participant {self.pk} of {self.study.code}"

    @property
    def group_name(self):
        """The channel-layer group that receives this participant's confirmations."""
        return f"participant.{self.token}"

    @property
    def has_consented(self):
        return self.consented_at is not None


class ExternalIdentity(models.Model):
    """A panel's identifiers for a participant (e.g. PROLIFIC_PID), kept apart from the ratings."""

    participant = models.OneToOneField(Participant, on_delete=models.CASCADE, related_name="external_identity")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="external_identities")
    panel = models.CharField(max_length=30, default="prolific")
    external_id = models.CharField(max_length=200)
    panel_study_id = models.CharField(max_length=200, blank=True)
    panel_session_id = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["study", "panel", "external_id"], name="one_participant_per_external_id")
        ]


class Trial(models.Model):
    class Status(models.TextChoices):
        ASSIGNED = "assigned"
        STREAMING = "streaming"
        FINISHED = "finished"
        INTERRUPTED = "interrupted"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    index = models.PositiveIntegerField()
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="trials")
    arm_a = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="+")
    arm_b = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="+")
    seed = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ASSIGNED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "index"]
        constraints = [models.UniqueConstraint(fields=["participant", "index"], name="unique_trial_index")]

    def __str__(self):
        return f"trial {self.index} of participant {self.participant_id}"

    def arm_for_pane(self, pane):
        return {"A": self.arm_a, "B": self.arm_b}[pane]


class Rating(models.Model):
    """One answer to one question of one trial, stored once per client-generated key."""

    key = models.UUIDField(unique=True, default=uuid.uuid4)
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="ratings")
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="ratings")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="ratings")
    value = models.CharField(max_length=200)
    response_ms = models.PositiveIntegerField()
    received_at = models.DateTimeField(help_text="When the web process received the answer.")
    stored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["trial", "question"]
        constraints = [models.UniqueConstraint(fields=["trial", "question"], name="one_rating_per_question")]

    def __str__(self):
        return f"{self.question.name}={self.value} ({self.key})"


class RatingConflict(models.Model):
    """A resend that disagreed with the stored rating; the first value is kept, this is the record."""

    key = models.UUIDField()
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="rating_conflicts")
    stored_rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="conflicts")
    payload = models.JSONField()
    reason = models.CharField(max_length=100)
    recorded_at = models.DateTimeField(default=timezone.now)
