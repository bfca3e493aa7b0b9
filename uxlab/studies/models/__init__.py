"""The data uxlab owns: teams, studies and their parts, participants, trials and ratings."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from uxlab.streaming import kinds


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
    # Codes and URLs for the other outcomes ({"failed_attention": {"code", "url"}, "timed_out": ...,
    # "backend_failure": ...}); an outcome not listed gets the main code, except timed_out, which
    # gets none. See Participant.Outcome.
    completion_outcomes = models.JSONField(default=dict, blank=True)
    # Participants who declined consent are deleted; only their number is kept.
    declined_count = models.PositiveIntegerField(default=0)
    # Which pairs of arms each participant sees (by arm name) and the base seed of their order.
    design = models.JSONField(default=dict)
    # Why the study paused itself (a live arm failing too often); cleared when it is resumed.
    paused_reason = models.CharField(max_length=300, blank=True)
    # 1 until launch; each edit after launch makes a new version (StudyVersion, AuditEntry).
    version = models.PositiveIntegerField(default=1)
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

    def completion_for(self, outcome):
        """(code, url) a participant with this outcome is shown; ("", "") when there is none."""
        own = (self.completion_outcomes or {}).get(outcome)
        if own:
            return own.get("code", ""), own.get("url", "")
        if outcome not in (Participant.Outcome.TIMED_OUT, Participant.Outcome.INCOMPLETE):
            return self.completion_code, self.completion_url
        return "", ""  # no code for these unless the study gives one

    @property
    def session(self):
        """The participant-session settings of `design`, with their defaults (studies/design.py)."""
        from uxlab.studies.design import SessionDesign

        return SessionDesign.of(self.design)


def arm_kind_choices():
    """The registered arm kinds, read when a form or the admin needs them (no migration per kind)."""
    return [(name, name.replace("_", " ").capitalize()) for name in kinds.names()]


class Arm(models.Model):
    """A latency condition. Its name and profile stay on the server: participants see only A/B."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    name = models.SlugField(max_length=60)
    label = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=300, blank=True, help_text="Where the profile's figures come from.")
    # One of the registered arm kinds (streaming/kinds), which know what their profile holds.
    kind = models.CharField(max_length=20, choices=arm_kind_choices, default=kinds.DEFAULT_KIND)
    # The named preset (streaming/presets.py) the profile started from; the profile holds the
    # resolved values, so the preset name documents where they came from.
    preset = models.CharField(max_length=60, blank=True)
    # Parameters of the arm's kind (synthetic profile, live backend, or trace and re-timing),
    # validated by the kind's Settings (studies.study_files) before they get here. Never an API key: only its variable name.
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
    # trial prompts make the design's cells; practice and attention-check prompts are extra trials.
    role = models.CharField(
        max_length=10, choices=[("trial", "trial"), ("practice", "practice"), ("attention", "attention")],
        default="trial",
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="unique_prompt_name")]

    def __str__(self):
        return self.name


class Question(models.Model):
    """A question asked after every trial, or (option ``ask: once``) only after the participant's
    first trial, the one with index 0. Kinds and their value encodings: docs/study-format.md.

    A per-pane question (``pane`` "A" or "B") is one of the two rows a study file's per-pane
    question becomes: ``speed`` with ``per_pane: true`` is stored as ``speed_A`` and ``speed_B``,
    so every answer is one plain value about one pane.
    """

    class Kind(models.TextChoices):
        FORCED_CHOICE = "forced_choice"
        FORCED_CHOICE_TIE = "forced_choice_tie"
        PREFERENCE = "preference"
        LIKERT = "likert"
        SLIDER = "slider"
        WAIT_ESTIMATE = "wait_estimate"
        FREE_TEXT = "free_text"

    CHOICES = {
        Kind.FORCED_CHOICE: [("A", "A"), ("B", "B")],
        Kind.FORCED_CHOICE_TIE: [("A", "A"), ("B", "B"), ("tie", "No difference")],
        Kind.PREFERENCE: [("A", "A"), ("B", "B"), ("tie", "Both equally good"), ("both_bad", "Both bad")],
    }
    # Option `ask`: after every trial (the default), or once, after the participant's first trial.
    ASK_CHOICES = ("every_trial", "once")
    FIRST_TRIAL_INDEX = 0
    # Defaults of the kind-specific options (Question.options); study_files validates them.
    DEFAULT_OPTIONS = {
        Kind.LIKERT: {"scale": 7, "low_label": "", "high_label": ""},
        Kind.SLIDER: {"min": 0, "max": 100, "step": 1, "low_label": "", "high_label": ""},
        Kind.WAIT_ESTIMATE: {"max_seconds": 600},
        Kind.FREE_TEXT: {"max_length": 200, "required": False},
    }

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="questions")
    name = models.SlugField(max_length=60)
    kind = models.CharField(max_length=30, choices=Kind.choices, default=Kind.FORCED_CHOICE_TIE)
    text = models.CharField(max_length=500)
    pane = models.CharField(max_length=1, blank=True, help_text="A or B for a per-pane question, else empty.")
    options = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="unique_question_name")]

    def __str__(self):
        return self.name

    def option(self, name):
        return self.resolved_options.get(name)

    @property
    def resolved_options(self):
        """The kind's options with their defaults filled in."""
        return {**self.DEFAULT_OPTIONS.get(self.kind, {}), **(self.options or {})}

    @property
    def choices(self):
        """(value, label) pairs of a choice or Likert question; empty for the other kinds."""
        if self.kind in self.CHOICES:
            return self.CHOICES[self.kind]
        if self.kind == self.Kind.LIKERT:
            return [(str(point), str(point)) for point in range(1, self.option("scale") + 1)]
        return []

    @property
    def required(self):
        return bool(self.option("required")) if self.kind == self.Kind.FREE_TEXT else True

    @property
    def asked_once(self):
        """Asked only after the participant's first trial (index 0), not after every trial."""
        return (self.options or {}).get("ask") == "once"

    def asked_on(self, trial_index):
        """Whether this question is asked after the trial with this index."""
        return not self.asked_once or trial_index == self.FIRST_TRIAL_INDEX

    @property
    def base_name(self):
        """The name in the study file: ``speed`` for the rows ``speed_A`` and ``speed_B``."""
        return self.name[:-2] if self.pane else self.name

    def clean_value(self, value):
        """The answer as stored (canonical text), or ValueError saying what an answer must be."""
        if not isinstance(value, str):
            raise ValueError("The answer must be text.")
        if self.kind in self.CHOICES or self.kind == self.Kind.LIKERT:
            allowed = [choice for choice, _label in self.choices]
            if value not in allowed:
                raise ValueError(f"The answer must be one of: {', '.join(allowed)}.")
            return value
        if self.kind in (self.Kind.SLIDER, self.Kind.WAIT_ESTIMATE):
            low, high = (self.option("min"), self.option("max")) if self.kind == self.Kind.SLIDER else (
                0, self.option("max_seconds"))
            try:
                number = float(value)
            except ValueError:
                raise ValueError("The answer must be a number.") from None
            if not (low <= number <= high):  # also refuses nan
                raise ValueError(f"The answer must be a number from {low} to {high}.")
            return str(int(number)) if number.is_integer() else str(round(number, 3))
        if self.kind == self.Kind.FREE_TEXT:
            text = value.strip()
            if not text:
                raise ValueError("The answer must not be empty.")
            if len(text) > self.option("max_length"):
                raise ValueError(f"The answer must be at most {self.option('max_length')} characters.")
            return text
        raise ValueError("This question takes no answers.")


class Participant(models.Model):
    class Status(models.TextChoices):
        STARTED = "started"
        CONSENTED = "consented"
        COMPLETED = "completed"
        DECLINED = "declined"
        EXPIRED = "expired"
        # Withdrew, or was withdrawn by the study team: a tombstone (actions/privacy.py keeps only
        # when they started and consented); their trials, answers, telemetry and panel id are gone.
        WITHDRAWN = "withdrawn"

    class WithdrawnBy(models.TextChoices):
        PARTICIPANT = "participant"
        RESEARCHER = "researcher"

    class Outcome(models.TextChoices):
        """How the participant's session ended, which picks their completion code (Prolific style)."""

        COMPLETED = "completed"
        FAILED_ATTENTION = "failed_attention"
        TIMED_OUT = "timed_out"
        BACKEND_FAILURE = "backend_failure"
        # Trials skipped by the participant's own reloads (restart limit, `block` policy).
        INCOMPLETE = "incomplete"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    token = models.CharField(max_length=64, unique=True, default=new_participant_token)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.STARTED)
    assignment_seed = models.CharField(max_length=64, blank=True)
    # How the trials were assigned (order scheme, Latin-square row, cells), for reproducing it.
    assignment = models.JSONField(default=dict, blank=True)
    consent_version = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The browser checks (viewport, refresh rate, websocket round trip, clock sync) and their outcome.
    checks = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    layout = models.CharField(max_length=20, blank=True, help_text="side_by_side or stacked, from the checks.")
    consented_at = models.DateTimeField(null=True, blank=True)
    instructions_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Set when the final answers could not be confirmed and the completion code was shown anyway.
    completion_unconfirmed_at = models.DateTimeField(null=True, blank=True)
    unconfirmed_count = models.PositiveIntegerField(default=0)
    unconfirmed_reason = models.CharField(max_length=40, blank=True)
    # When the participant's cells were reserved (on reaching the first trial, not at consent);
    # a reservation whose trials never start is released by the expiry task.
    assigned_at = models.DateTimeField(null=True, blank=True)
    # How the session ended and the completion code shown for it (empty while it runs).
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    completion_code_shown = models.CharField(max_length=40, blank=True)
    # "" for a real participant; "pilot" (kept, excluded from analysis by default) or "preview" (a
    # researcher's run-through, never counted): neither fills quotas (docs/builder.md).
    mode = models.CharField(max_length=10, blank=True, choices=[("pilot", "pilot"), ("preview", "preview")])
    study_version = models.PositiveIntegerField(default=1, help_text="The study's version at enrolment.")
    # How often the participant asked for more time when warned that the session would end.
    time_extensions = models.PositiveSmallIntegerField(default=0)
    # "I use a screen reader or screen magnifier" (asked only with design.ask_assistive_technology).
    assistive_technology = models.BooleanField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.CharField(max_length=12, choices=WithdrawnBy.choices, blank=True)
    # When the panel id (ExternalIdentity) was erased: by withdrawal or UXLAB_PANEL_ID_RETENTION_DAYS.
    panel_id_erased_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"participant {self.pk} of {self.study.code}"

    @property
    def group_name(self):
        """The channel-layer group that receives this participant's confirmations. Named by the
        numeric id, never the token: the name travels in broker payloads and dead-letter records."""
        return self.group_name_of(self.pk)

    @staticmethod
    def group_name_of(participant_id):
        """``group_name`` of the participant with this id, without loading them."""
        return f"participant.{participant_id}"

    @property
    def has_consented(self):
        return self.consented_at is not None

    @property
    def is_expired(self):
        return self.status == self.Status.EXPIRED

    @property
    def is_withdrawn(self):
        return self.status == self.Status.WITHDRAWN


class Trial(models.Model):
    class Status(models.TextChoices):
        ASSIGNED = "assigned"
        STREAMING = "streaming"
        FINISHED = "finished"
        INTERRUPTED = "interrupted"
        # Could not be shown (restarts used up, a backend down, an arm at its in-flight limit):
        # the participant moved on; ``skip_reason`` says why.
        SKIPPED = "skipped"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    index = models.PositiveIntegerField()
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="trials")
    arm_a = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="+")
    arm_b = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="+")
    seed = models.CharField(max_length=64)
    # "trial" (analysed), "practice" (flagged, excluded from analysis) or "attention" (an
    # instructed-response check, scored into attention_passed once its answer is stored).
    kind = models.CharField(
        max_length=10, choices=[("trial", "trial"), ("practice", "practice"), ("attention", "attention")],
        default="trial",
    )
    # The design cell ("<pair index>:<prompt name>") a trial counts toward; empty for extra trials.
    cell = models.CharField(max_length=80, blank=True, db_index=True)
    attention_passed = models.BooleanField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ASSIGNED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Delivery (docs/protocol.md): the common t0 of both panes as server epoch seconds, so any
    # web process can resume the stream; how often it was restarted or resumed.
    delivery = models.CharField(max_length=20, blank=True)
    stream_t0 = models.FloatField(null=True, blank=True)
    restarts = models.PositiveIntegerField(default=0)
    resumes = models.PositiveIntegerField(default=0)
    # What the server measured while sending (send lateness), and the per-pane fidelity summary
    # computed from the browser's telemetry (streaming/fidelity.py).
    server_timing = models.JSONField(default=dict, blank=True)
    fidelity = models.JSONField(default=dict, blank=True)
    hidden_during_stream = models.BooleanField(default=False)
    # An adaptive trial's panes differ from their arm in one dimension: {pane: {"dimension",
    # "value"}} (studies/actions/adaptive.py). Server side only, like the arms themselves.
    stimulus = models.JSONField(default=dict, blank=True)
    # Why a skipped trial was skipped: "restart_limit: <failure>", "arm_busy", "blocked".
    skip_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["participant", "index"]
        constraints = [models.UniqueConstraint(fields=["participant", "index"], name="unique_trial_index")]

    def __str__(self):
        return f"trial {self.index} of participant {self.participant_id}"

    def arm_for_pane(self, pane):
        return {"A": self.arm_a, "B": self.arm_b}[pane]


class LiveResponse(models.Model):
    """What a live arm's backend sent for one pane of one trial, one row per attempt (a restart is a
    new attempt). Server side only: hidden reasoning is kept here and never sent to the browser.

    ``chunks`` holds every chunk as ``[t_s, phase, text, tokens, seq]``: ``t_s`` its arrival after
    the trial's t0, ``seq`` the stream message that carried it (null when it was withheld, as hidden
    reasoning is). ``ttft_s`` and ``tokens_per_second`` are the answer phase as the backend delivered
    it (streaming/fidelity.phase_timing over the chunks).
    """

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="live_responses")
    pane = models.CharField(max_length=1)
    attempt = models.PositiveIntegerField(default=0, help_text="The trial's restarts when this attempt began.")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="live_responses")
    text = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    usage = models.JSONField(null=True, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    failure = models.CharField(max_length=40, blank=True, help_text="The failure code, if the attempt failed.")
    chunks = models.JSONField(default=list, blank=True)
    request_s = models.FloatField(null=True, blank=True, help_text="When the request was sent, s after t0.")
    ttft_s = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    # This arm's streams in flight (across web processes) when this one started, itself included,
    # and how long it waited for a slot under the arm's max_in_flight.
    in_flight = models.PositiveIntegerField(null=True, blank=True)
    queued_s = models.FloatField(default=0.0)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["trial", "attempt", "pane"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "pane", "attempt"], name="one_live_response_per_attempt")
        ]

    def __str__(self):
        return f"live response of {self.trial} pane {self.pane} (attempt {self.attempt})"


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


class TrialTelemetry(models.Model):
    """What the browser observed during one trial (receive and paint times, visibility, focus),
    stored once per client-generated key like a rating."""

    key = models.UUIDField(unique=True)
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="telemetry")
    payload = models.JSONField()
    received_at = models.DateTimeField()
    stored_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "trial telemetry"


class RecordedTrace(models.Model):
    """A live arm's response to one prompt, captured once and replayed by trace arms.

    ``chunks`` holds every chunk as ``{"t", "phase", "text"}``: ``t`` is its arrival in seconds
    from the request, ``phase`` "thinking" or "answer" (streaming/traces.py, capture_trace).
    Re-recording the same arm and prompt replaces the trace.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="recorded_traces")
    arm = models.ForeignKey(Arm, on_delete=models.CASCADE, related_name="recorded_traces")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="recorded_traces")
    text = models.TextField()
    reasoning = models.TextField(blank=True)
    chunks = models.JSONField(default=list)
    usage = models.JSONField(null=True, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=300, blank=True, help_text="Backend model and URL host it came from.")
    concurrency = models.PositiveIntegerField(default=1, help_text="How many prompts were recorded at once.")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["arm", "prompt"]
        constraints = [models.UniqueConstraint(fields=["arm", "prompt"], name="one_trace_per_arm_and_prompt")]

    def __str__(self):
        return f"trace of {self.arm} for {self.prompt}"


# Operational records live in their own module; importing them here registers them with the app.
from uxlab.studies.models.adaptive import AdaptiveRun, AdaptiveStep  # noqa: E402
from uxlab.studies.models.builder import StudyDraft, StudyVersion  # noqa: E402
from uxlab.studies.models.enrolment import EnrolmentThrottle, ExternalIdentity  # noqa: E402
from uxlab.studies.models.operations import (  # noqa: E402
    ApiToken,
    ApiTokenQuerySet,
    AuditEntry,
    ExportAudit,
    FailedTask,
)
from uxlab.studies.models.workspace import Job, TeamInvite  # noqa: E402

__all__ = [
    "AdaptiveRun",
    "AdaptiveStep",
    "ApiToken",
    "ApiTokenQuerySet",
    "Arm",
    "AuditEntry",
    "EnrolmentThrottle",
    "ExportAudit",
    "ExternalIdentity",
    "FailedTask",
    "Job",
    "LiveResponse",
    "Membership",
    "Participant",
    "Prompt",
    "Question",
    "Rating",
    "RatingConflict",
    "RecordedTrace",
    "Study",
    "StudyDraft",
    "StudyQuerySet",
    "StudyVersion",
    "Team",
    "TeamInvite",
    "Trial",
    "TrialTelemetry",
]
