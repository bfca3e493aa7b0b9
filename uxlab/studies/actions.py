"""Multi-model writes of the participant flow and the rating path, and their live events.

Views, consumers and tasks call these; none of them touches several models on its own.
"""

import hashlib
import logging
import random
from dataclasses import dataclass, field
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from uxlab.studies.models import ExternalIdentity, Participant, Rating, RatingConflict, Study, Trial

log = logging.getLogger(__name__)


class RatingRejected(Exception):
    """An answer the server refuses; `code` is stable and sent to the browser."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class TrialUnavailable(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# --- Entry and consent -------------------------------------------------------------------------


def enroll_participant(study, *, panel=None, external_id=None, panel_study_id="", panel_session_id=""):
    """A participant for this study: the same one again for a known panel id, else a new one."""
    if not external_id:
        return Participant.objects.create(study=study)
    existing = find_participant_by_external_id(study, panel, external_id)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            participant = Participant.objects.create(study=study)
            ExternalIdentity.objects.create(
                participant=participant,
                study=study,
                panel=panel,
                external_id=external_id,
                panel_study_id=panel_study_id or "",
                panel_session_id=panel_session_id or "",
            )
            return participant
    except IntegrityError:
        # A concurrent request enrolled the same id first: return that participant.
        return find_participant_by_external_id(study, panel, external_id)


def find_participant_by_external_id(study, panel, external_id):
    identity = (
        ExternalIdentity.objects.filter(study=study, panel=panel, external_id=external_id)
        .select_related("participant")
        .first()
    )
    return identity.participant if identity else None


def give_consent(participant):
    """Record consent and assign the participant's trials, atomically and only once."""
    with transaction.atomic():
        locked = Participant.objects.select_for_update().select_related("study").get(pk=participant.pk)
        if locked.consented_at is not None:
            return locked
        locked.consented_at = timezone.now()
        locked.consent_version = locked.study.consent_version
        locked.status = Participant.Status.CONSENTED
        locked.assignment_seed = assignment_seed(locked)
        locked.save(update_fields=["consented_at", "consent_version", "status", "assignment_seed"])
        assign_trials(locked)
        return locked


def decline_consent(participant):
    Participant.objects.filter(pk=participant.pk, consented_at__isnull=True).update(
        status=Participant.Status.DECLINED
    )


def assignment_seed(participant):
    base = participant.study.design.get("seed") or participant.study.code
    return hashlib.sha256(f"{base}:{participant.token}".encode()).hexdigest()[:16]


def assign_trials(participant):
    """Every design pair with every prompt, in a seeded random order with A/B drawn per trial."""
    study = participant.study
    arms = {arm.name: arm for arm in study.arms.all()}
    cells = [(pair, prompt) for pair in study.design["pairs"] for prompt in study.prompts.all()]
    rng = random.Random(participant.assignment_seed)
    rng.shuffle(cells)
    trials = []
    for index, ((first, second), prompt) in enumerate(cells):
        arm_a, arm_b = (arms[first], arms[second]) if rng.random() < 0.5 else (arms[second], arms[first])
        trials.append(
            Trial(
                participant=participant,
                index=index,
                prompt=prompt,
                arm_a=arm_a,
                arm_b=arm_b,
                seed=f"{participant.assignment_seed}:{index}",
            )
        )
    Trial.objects.bulk_create(trials)


# --- Where the participant is --------------------------------------------------------------------


def pending_trial(participant):
    """The first trial with a question still unanswered, or None when all are answered."""
    question_count = participant.study.questions.count()
    for trial in participant.trials.order_by("index").prefetch_related("ratings"):
        if len(trial.ratings.all()) < question_count:
            return trial
    return None


def complete_participant(participant):
    """Mark the participant completed if every answer is stored; returns whether it is."""
    if not participant.has_consented or pending_trial(participant) is not None:
        return False
    if participant.completed_at is None:
        Participant.objects.filter(pk=participant.pk, completed_at__isnull=True).update(
            completed_at=timezone.now(), status=Participant.Status.COMPLETED
        )
        participant.refresh_from_db()
    return True


# --- Streaming a trial ---------------------------------------------------------------------------


@dataclass
class ParticipantContext:
    """What a consumer needs to check this participant's answers without a query per frame."""

    participant_id: int
    token: str
    group_name: str
    consented: bool
    trial_ids: dict = field(default_factory=dict)  # index -> trial id
    questions: dict = field(default_factory=dict)  # name -> (id, allowed values)


def load_participant_context(token):
    participant = Participant.objects.select_related("study").filter(token=token).first()
    if participant is None:
        return None
    return ParticipantContext(
        participant_id=participant.pk,
        token=participant.token,
        group_name=participant.group_name,
        consented=participant.has_consented,
        trial_ids=dict(participant.trials.values_list("index", "id")),
        questions={
            question.name: (question.pk, {value for value, _label in question.choices})
            for question in participant.study.questions.all()
        },
    )


def start_trial(participant_id, index):
    """Mark the trial as streaming and return what each pane streams (server-side only)."""
    trial = (
        Trial.objects.select_related("prompt", "arm_a", "arm_b", "participant")
        .filter(participant_id=participant_id, index=index)
        .first()
    )
    if trial is None:
        raise TrialUnavailable("unknown_trial", "There is no such trial for this session.")
    if not trial.participant.has_consented:
        raise TrialUnavailable("not_consented", "Consent is needed before the trials start.")
    if trial.started_at is None:
        Trial.objects.filter(pk=trial.pk).update(started_at=timezone.now(), status=Trial.Status.STREAMING)
    return {
        pane: {
            "kind": arm.kind,
            "profile": arm.profile,
            "content": trial.prompt.response,
            "reasoning": trial.prompt.reasoning,
            "seed": f"{trial.seed}:{pane}",
        }
        for pane, arm in (("A", trial.arm_a), ("B", trial.arm_b))
    }


def finish_trial(participant_id, index):
    Trial.objects.filter(participant_id=participant_id, index=index, finished_at__isnull=True).update(
        finished_at=timezone.now(), status=Trial.Status.FINISHED
    )


# --- The rating path -----------------------------------------------------------------------------


def check_rating(context, message, received_at):
    """Validate a submitted answer against the participant's own trials; return the task payload."""
    if not context.consented:
        raise RatingRejected("not_consented", "Answers are accepted only after consent.")
    trial_id = context.trial_ids.get(message.trial)
    if trial_id is None:
        raise RatingRejected("unknown_trial", "There is no such trial for this session.")
    question = context.questions.get(message.question)
    if question is None:
        raise RatingRejected("unknown_question", "There is no such question in this study.")
    question_id, allowed = question
    if message.value not in allowed:
        raise RatingRejected("bad_value", f"The answer must be one of: {', '.join(sorted(allowed))}.")
    return {
        "key": str(message.key),
        "participant_id": context.participant_id,
        "group_name": context.group_name,
        "trial_id": trial_id,
        "question_id": question_id,
        "value": message.value,
        "response_ms": message.response_ms,
        "received_at": received_at.isoformat(),
    }


def enqueue_rating(payload):
    """Hand the answer to a worker (or, on the embedded default, store it right here)."""
    from uxlab.studies.tasks import store_rating

    store_rating.apply_async(args=[payload], retry=True)


def record_rating(payload):
    """Store one answer exactly once and say what happened: stored, duplicate or conflict.

    The key is the client's idempotency key: a resend with the same content is a duplicate;
    a resend that disagrees, or a second answer to the same question, is recorded as a conflict
    and never overwrites. The browser is told `rating.stored` after commit in every case.
    """
    key = UUID(payload["key"])
    fields = {
        "participant_id": payload["participant_id"],
        "trial_id": payload["trial_id"],
        "question_id": payload["question_id"],
        "value": payload["value"],
        "response_ms": payload["response_ms"],
    }
    with transaction.atomic():
        existing = Rating.objects.filter(key=key).first()
        if existing is None:
            try:
                with transaction.atomic():
                    Rating.objects.create(
                        key=key,
                        received_at=parse_datetime(payload["received_at"]),
                        stored_at=timezone.now(),
                        **fields,
                    )
                outcome = "stored"
            except IntegrityError:
                existing = Rating.objects.filter(key=key).first() or Rating.objects.get(
                    trial_id=fields["trial_id"], question_id=fields["question_id"]
                )
        if existing is not None:
            if existing.key == key and all(getattr(existing, name) == value for name, value in fields.items()):
                outcome = "duplicate"
            else:
                reason = "same key, different answer" if existing.key == key else "question already answered"
                RatingConflict.objects.create(
                    key=key,
                    participant_id=fields["participant_id"],
                    stored_rating=existing,
                    payload=payload,
                    reason=reason,
                )
                outcome = "conflict"
        transaction.on_commit(lambda: notify_rating_stored(payload["group_name"], key))
    return outcome


def notify_rating_stored(group_name, key):
    """Tell the participant's open sockets that this answer is safely stored."""
    try:
        async_to_sync(get_channel_layer().group_send)(group_name, {"type": "rating.stored", "key": str(key)})
    except Exception:  # A lost notification only causes a harmless resend.
        log.warning("could not notify %s that a rating was stored", group_name, exc_info=True)


def study_counts(study):
    return {
        "participants": study.participants.count(),
        "consented": study.participants.filter(consented_at__isnull=False).count(),
        "completed": study.participants.filter(completed_at__isnull=False).count(),
        "ratings": Rating.objects.filter(participant__study=study).count(),
    }


def open_study(study):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)
