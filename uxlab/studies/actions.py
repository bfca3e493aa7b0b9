"""Multi-model writes of the participant flow and the rating path, and their live events.

Views, consumers and tasks call these; none of them touches several models on its own.
"""

import asyncio
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from uxlab.streaming import delivery, fidelity
from uxlab.streaming.traces import builtin_offsets
from uxlab.streaming.trial import trial_frames
from uxlab.studies.assignment import attention_positions, cell_key, plan_trials
from uxlab.studies.models import (
    Arm,
    ExternalIdentity,
    FailedTask,
    Participant,
    Rating,
    RatingConflict,
    RecordedTrace,
    Study,
    Trial,
    TrialTelemetry,
)

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
    """Record consent and assign the participant's trials, atomically and only once.

    Raises StudyFull (and records nothing) when the study's quotas leave no room.
    """
    with transaction.atomic():
        # The study's row lock serialises assignments, so cell counts are read and raised atomically.
        Study.objects.select_for_update().filter(pk=participant.study_id).first()
        locked = Participant.objects.select_for_update().select_related("study").get(pk=participant.pk)
        if locked.consented_at is not None:
            return locked
        locked.consented_at = timezone.now()
        locked.consent_version = locked.study.consent_version
        locked.status = Participant.Status.CONSENTED
        locked.assignment_seed = assignment_seed(locked)
        locked.last_seen_at = locked.consented_at
        assign_trials(locked)
        locked.save(
            update_fields=["consented_at", "consent_version", "status", "assignment_seed", "assignment", "last_seen_at"]
        )
        return locked


def decline_consent(participant):
    """Declining keeps nothing of the participant: they are deleted and only counted."""
    with transaction.atomic():
        deleted, _ = Participant.objects.filter(pk=participant.pk, consented_at__isnull=True).delete()
        if deleted:
            Study.objects.filter(pk=participant.study_id).update(declined_count=F("declined_count") + 1)
    return bool(deleted)


def assignment_seed(participant):
    base = participant.study.design.get("seed") or participant.study.code
    return hashlib.sha256(f"{base}:{participant.token}".encode()).hexdigest()[:16]


def live_cell_counts(study):
    """How many participants hold each design cell, not counting expired sessions (their slots are free)."""
    rows = (
        Trial.objects.filter(participant__study=study, kind="trial")
        .exclude(participant__status=Participant.Status.EXPIRED)
        .values_list("cell")
        .annotate(count=Count("id"))
    )
    return dict(rows)


def assign_trials(participant):
    """Plan and create the participant's trials (call with the study row locked; see give_consent).

    Cells are balanced across participants and ordered by Latin square or seeded shuffle, with
    left/right counterbalanced within the participant (studies/assignment.py); a practice trial
    comes first and attention checks are inserted among the trials. The plan is stored on the
    participant (`assignment`) with the seed.
    """
    study = participant.study
    session = study.session
    arms = {arm.name: arm for arm in study.arms.all()}
    prompts = {prompt.name: prompt for prompt in study.prompts.all()}
    trial_prompts = [prompt.name for prompt in prompts.values() if prompt.role == "trial"]
    ordinal = study.participants.exclude(assignment={}).exclude(pk=participant.pk).count()
    planned = plan_trials(
        [list(pair) for pair in session.pairs],
        trial_prompts,
        counts=live_cell_counts(study),
        ordinal=ordinal,
        seed=participant.assignment_seed,
        order=session.order,
        per_participant=session.trials_per_participant,
        quota=session.quota_per_cell,
    )

    def arms_of(pair_index, first_left):
        first, second = (arms[name] for name in session.pairs[pair_index])
        return (first, second) if first_left else (second, first)

    sequence = [("trial", item.prompt, item.cell, arms_of(item.pair_index, item.first_arm_left)) for item in planned]
    checks = list(session.attention_checks)
    for offset, (position, check) in enumerate(
        sorted(zip(attention_positions(len(planned), checks), range(len(checks))), key=lambda pair: pair[0])
    ):
        sequence.insert(position + offset, ("attention", checks[check]["prompt"], "", arms_of(0, (ordinal + offset) % 2 == 1)))
    practice = [prompt for prompt in prompts.values() if prompt.role == "practice"]
    if practice:
        sequence.insert(0, ("practice", practice[0].name, "", arms_of(0, ordinal % 2 == 0)))

    Trial.objects.bulk_create(
        Trial(
            participant=participant,
            index=index,
            kind=kind,
            cell=cell,
            prompt=prompts[prompt],
            arm_a=arm_a,
            arm_b=arm_b,
            seed=f"{participant.assignment_seed}:{index}",
        )
        for index, (kind, prompt, cell, (arm_a, arm_b)) in enumerate(sequence)
    )
    participant.assignment = {
        "order": session.order,
        "ordinal": ordinal,
        "seed": participant.assignment_seed,
        "trials": [
            {"index": index, "kind": kind, "prompt": prompt, "cell": cell, "arm_a": arm_a.name, "arm_b": arm_b.name}
            for index, (kind, prompt, cell, (arm_a, arm_b)) in enumerate(sequence)
        ],
    }


def study_is_full(study):
    """Whether a new participant could not be assigned: every cell at its quota, or too few open."""
    session = study.session
    if session.quota_per_cell is None:
        return False
    prompts = list(study.prompts.filter(role="trial").values_list("name", flat=True))
    cells = [cell_key(index, prompt) for index in range(len(session.pairs)) for prompt in prompts]
    counts = live_cell_counts(study)
    open_cells = sum(1 for cell in cells if counts.get(cell, 0) < session.quota_per_cell)
    wanted = len(cells) if session.trials_per_participant is None else min(session.trials_per_participant, len(cells))
    return open_cells < wanted


# --- The participant's steps ---------------------------------------------------------------------


def participant_step(participant):
    """The step the participant is on: expired, checks, consent, instructions, trial or done."""
    if participant.is_expired:
        return "expired"
    if participant.checked_at is None or not participant.checks.get("passed"):
        return "checks"
    if not participant.has_consented:
        return "consent"
    if participant.instructions_seen_at is None:
        return "instructions"
    if participant.completed_at is None and pending_trial(participant) is not None:
        return "trial"
    return "done"


def record_checks(participant, results, *, viewport_ok, stacked):
    """Store the browser checks (already validated by the view) and the layout they lead to."""
    study_session = participant.study.session
    passed = viewport_ok or (stacked and study_session.allow_stacked)
    layout = study_session.layout if viewport_ok else ("stacked" if passed else "")
    checks = {**results, "viewport_ok": viewport_ok, "passed": passed, "layout": layout}
    Participant.objects.filter(pk=participant.pk).update(
        checks=checks, checked_at=timezone.now(), layout=layout, last_seen_at=timezone.now()
    )
    participant.refresh_from_db()
    return passed


def mark_instructions_seen(participant):
    Participant.objects.filter(pk=participant.pk, instructions_seen_at__isnull=True).update(
        instructions_seen_at=timezone.now()
    )
    participant.refresh_from_db()


def touch_participant(participant):
    """Note that the participant is still here (abandoned sessions are the ones not seen for a while)."""
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=timezone.now())


def score_attention_checks(participant):
    """Store pass/fail of each answered attention-check trial from its stored answer."""
    expected = {check["prompt"]: check for check in participant.study.session.attention_checks}
    for trial in participant.trials.filter(kind="attention", attention_passed__isnull=True).select_related("prompt"):
        check = expected.get(trial.prompt.name)
        if check is None:
            continue
        rating = trial.ratings.filter(question__name=check["question"]).first()
        if rating is not None:
            Trial.objects.filter(pk=trial.pk).update(attention_passed=rating.value == check["expected"])


def record_unconfirmed_completion(participant, pending_count):
    """The page gave up waiting for the final save and showed the code anyway: keep that fact."""
    Participant.objects.filter(pk=participant.pk, completion_unconfirmed_at__isnull=True).update(
        completion_unconfirmed_at=timezone.now(), unconfirmed_count=max(0, min(pending_count, 10_000))
    )
    participant.refresh_from_db()


def expire_sessions(now=None):
    """End sessions past the study's time limit or abandoned (not seen for a while); frees their cells.

    Returns how many participants were expired. Completed, declined and unconsented sessions hold no
    cells, so only consented, unfinished ones are considered.
    """
    now = now or timezone.now()
    expired = 0
    candidates = Participant.objects.filter(
        status=Participant.Status.CONSENTED, completed_at__isnull=True
    ).select_related("study")
    for participant in candidates.iterator(chunk_size=500):
        session = participant.study.session
        over_limit = participant.consented_at <= now - timedelta(minutes=session.time_limit_minutes)
        last_seen = participant.last_seen_at or participant.consented_at
        abandoned = last_seen <= now - timedelta(minutes=session.abandon_after_minutes)
        if over_limit or abandoned:
            expired += Participant.objects.filter(
                pk=participant.pk, status=Participant.Status.CONSENTED, completed_at__isnull=True
            ).update(status=Participant.Status.EXPIRED, expired_at=now)
    return expired


# --- Where the participant is --------------------------------------------------------------------


def pending_trial(participant):
    """The first trial with a required question still unanswered, or None when all are answered."""
    required = {question.pk for question in participant.study.questions.all() if question.required}
    for trial in participant.trials.order_by("index").prefetch_related("ratings"):
        if not required <= {rating.question_id for rating in trial.ratings.all()}:
            return trial
    return None


def missing_telemetry(participant):
    """Whether a trial with stored answers still lacks the browser's stored telemetry."""
    return participant.trials.filter(ratings__isnull=False, telemetry__isnull=True).exists()


def complete_participant(participant):
    """Mark the participant completed if every answer and telemetry batch is stored; returns whether it is."""
    if not participant.has_consented or participant.is_expired or pending_trial(participant) is not None:
        return False
    if missing_telemetry(participant):
        return False
    score_attention_checks(participant)
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
    questions: dict = field(default_factory=dict)  # name -> (id, Question: its clean_value checks answers)


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
        questions={question.name: (question.pk, question) for question in participant.study.questions.all()},
    )


def trial_pane_specs(trial):
    """What each pane streams (server-side only: it names the arm's parameters)."""
    return {
        pane: {
            "kind": arm.kind,
            "profile": arm.profile,
            "content": trial.prompt.response,
            "reasoning": trial.prompt.reasoning,
            "seed": f"{trial.seed}:{pane}",
            **arm_stimulus(arm, trial.prompt),
        }
        for pane, arm in (("A", trial.arm_a), ("B", trial.arm_b))
    }


def arm_stimulus(arm, prompt):
    """What a trace or live arm's spec adds (streaming/arms.py reads it): the recorded trace, the
    built-in cadence's offsets, or the prompt text a live backend is sent."""
    if arm.kind == Arm.Kind.LIVE:
        return {"prompt": prompt.text}
    if arm.kind != Arm.Kind.TRACE:
        return {}
    profile = arm.profile or {}
    if profile.get("builtin"):
        return {"trace": {"offsets": list(builtin_offsets(profile["builtin"]))}}
    recorded = RecordedTrace.objects.filter(
        arm__study_id=arm.study_id, arm__name=profile.get("recorded_arm"), prompt=prompt
    ).first()
    if recorded is None:
        raise TrialUnavailable("stimulus_not_ready", "This trial cannot be shown yet.")
    return {"content": recorded.text, "reasoning": recorded.reasoning, "trace": {"chunks": recorded.chunks}}


def trial_delivery(trial):
    """Live when either pane is a live backend (relayed as produced), else the study's mode."""
    if Arm.Kind.LIVE in {trial.arm_a.kind, trial.arm_b.kind}:
        return delivery.LIVE
    return trial.participant.study.session.delivery


def trial_layout(trial):
    """How the panes are timed: side by side from one t0, or sequential (B after A)."""
    session = trial.participant.study.session
    return {"layout": session.layout, "gap_s": session.sequential_gap_s}


def start_trial(participant_id, index, after_seq=None):
    """Open (or reopen) a trial's stream and return its panes, delivery mode, t0 and resume point.

    A first start fixes t0 a moment ahead, stored so any web process can resume. A reconnect that
    says how far it got (`after_seq`) resumes with the same t0. A fresh page on a trial that was
    already streaming follows the study's policy (`design.interrupted_trial`): `restart` (default)
    runs it again with a new t0, `resume` replays it on the original t0, `block` refuses.
    """
    with transaction.atomic():
        trial = (
            Trial.objects.select_for_update(of=("self",))
            .select_related("prompt", "arm_a", "arm_b", "participant__study")
            .filter(participant_id=participant_id, index=index)
            .first()
        )
        if trial is None:
            raise TrialUnavailable("unknown_trial", "There is no such trial for this session.")
        if not trial.participant.has_consented:
            raise TrialUnavailable("not_consented", "Consent is needed before the trials start.")
        now = time.time()
        restarted = resumed = False
        if trial.stream_t0 is None:
            trial.stream_t0 = now + delivery.START_DELAY_S
            trial.started_at = timezone.now()
            trial.status = Trial.Status.STREAMING
            trial.delivery = trial_delivery(trial)
        elif after_seq is not None or trial.finished_at is not None:
            resumed = True
            trial.resumes += 1
            after_seq = after_seq or 0
        else:
            policy = trial.participant.study.session.interrupted_trial
            if policy == "block":
                trial.status = Trial.Status.INTERRUPTED
                trial.save(update_fields=["status"])
                raise TrialUnavailable("trial_blocked", "This trial was interrupted and cannot be shown again.")
            if policy == "resume":
                resumed = True
                trial.resumes += 1
            else:
                restarted = True
                trial.restarts += 1
                trial.stream_t0 = now + delivery.START_DELAY_S
        trial.save(update_fields=["stream_t0", "started_at", "status", "delivery", "restarts", "resumes"])
        # An active stream is a participant who is still here (abandoned sessions expire).
        Participant.objects.filter(pk=participant_id).update(last_seen_at=timezone.now())
    return {
        "trial": index,
        "trial_id": trial.pk,
        "panes": trial_pane_specs(trial),
        "layout": trial_layout(trial),
        "delivery": trial.delivery,
        "t0": trial.stream_t0,
        "after_seq": after_seq or 0,
        "resumed": resumed,
        "restarted": restarted,
    }


def record_server_timing(participant_id, index, server_timing):
    """The server's send timing of a stream that ended early (the socket went away)."""
    Trial.objects.filter(participant_id=participant_id, index=index).update(server_timing=server_timing)


def interrupt_trial(participant_id, index, reason):
    """A stream that cannot be completed (a gap that cannot be filled, a failed backend)."""
    Trial.objects.filter(participant_id=participant_id, index=index, finished_at__isnull=True).update(
        status=Trial.Status.INTERRUPTED, server_timing={"interrupted": reason}
    )


def finish_trial(participant_id, index, server_timing=None):
    """The whole stream was sent: mark the trial finished and keep the server's send timing."""
    trial = Trial.objects.filter(participant_id=participant_id, index=index).first()
    if trial is None:
        return
    if server_timing is not None:
        trial.server_timing = server_timing
    if trial.finished_at is None:
        trial.finished_at = timezone.now()
        trial.status = Trial.Status.FINISHED
    trial.save(update_fields=["server_timing", "finished_at", "status"])


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
    question_id, question = question
    try:
        value = question.clean_value(message.value)
    except ValueError as error:
        raise RatingRejected("bad_value", str(error)) from None
    return {
        "key": str(message.key),
        "participant_id": context.participant_id,
        "group_name": context.group_name,
        "trial_id": trial_id,
        "question_id": question_id,
        "value": value,
        "response_ms": message.response_ms,
        "received_at": received_at.isoformat(),
    }


def enqueue_ratings(payloads):
    """Hand a batch of answers to a worker in one broker message (on the embedded default, store
    them right here). Raises when the broker does not take it; the caller tells browsers to retry."""
    from uxlab.studies.tasks import store_ratings

    store_ratings.apply_async(args=[list(payloads)], retry=True)


RATING_FIELDS = ("participant_id", "trial_id", "question_id", "value", "response_ms")


def rating_key(payload):
    """The payload's idempotency key in canonical form (raises on a malformed one)."""
    return str(UUID(str(payload["key"])))


def rating_matches(stored, payload):
    """Whether a stored row ({field: value}) holds exactly this payload's answer."""
    return all(stored[name] == payload[name] for name in RATING_FIELDS)


def record_ratings(payloads):
    """Store a batch of answers in one transaction, each exactly once; return {key: outcome}.

    The key is the client's idempotency key. Outcomes: "stored" (a new row), "duplicate" (the same
    key and answer were stored before) or "conflict" (the same key with a different answer, or a
    second answer to an answered question): the first value is kept, never overwritten, and a
    RatingConflict records the resend. Any error rolls back the whole batch and is raised.
    """
    first_copies = {}
    for payload in payloads:
        first_copies.setdefault(rating_key(payload), payload)
    keys = list(first_copies)
    # This call's own timestamp marks the rows it inserted: a row stored earlier is a duplicate.
    now = timezone.now()
    with transaction.atomic():
        # ON CONFLICT DO NOTHING: an earlier or concurrent copy of a key (or question) wins.
        Rating.objects.bulk_create(
            [
                Rating(
                    key=key,
                    received_at=parse_datetime(payload["received_at"]),
                    stored_at=now,
                    **{name: payload[name] for name in RATING_FIELDS},
                )
                for key, payload in first_copies.items()
            ],
            ignore_conflicts=True,
        )
        columns = ("id", "key", "stored_at", *RATING_FIELDS)
        # order_by(): Rating's default ordering joins Trial, which would hide a row whose trial is gone.
        stored = {
            str(row[1]): dict(zip(columns, row))
            for row in Rating.objects.filter(key__in=keys).order_by().values_list(*columns)
        }
        outcomes = {}
        for payload in payloads:
            key = rating_key(payload)
            row = stored.get(key)
            if row is not None and rating_matches(row, payload):
                outcomes.setdefault(key, "stored" if row["stored_at"] == now else "duplicate")
                continue
            if row is None:
                row = (
                    Rating.objects.filter(trial_id=payload["trial_id"], question_id=payload["question_id"])
                    .order_by()
                    .values("id")
                    .first()
                )
                if row is None:
                    raise Rating.DoesNotExist(f"rating {key} was neither stored nor in conflict")
                reason = "question already answered"
            else:
                reason = "same key, different answer"
            record_rating_conflict(key, payload, row["id"], reason)
            outcomes.setdefault(key, "conflict")
    return outcomes


def record_rating_conflict(key, payload, rating_id, reason):
    """Keep a disagreeing resend; the same message delivered twice is recorded once."""
    if not RatingConflict.objects.filter(key=key, stored_rating_id=rating_id, payload=payload).exists():
        RatingConflict.objects.create(
            key=key, participant_id=payload["participant_id"], stored_rating_id=rating_id, payload=payload, reason=reason
        )


def record_ratings_separately(payloads):
    """Store each answer in its own transaction, so one that cannot be stored does not hold up the
    rest; return ({key: outcome}, [(payload, error)]). A lost connection is raised, not collected."""
    outcomes, failures = {}, []
    for payload in payloads:
        try:
            outcomes.update(record_ratings([payload]))
        except (OperationalError, InterfaceError):
            raise
        except Exception as error:
            failures.append((payload, error))
    return outcomes, failures


def notify_ratings_stored(payloads):
    """Tell each participant's open sockets that these answers are safely stored: one event per
    copy received, so every send gets its answer. Call it only after the commit; a lost
    notification only causes a harmless resend.
    """
    # One event per participant and batch, listing its keys: a channel-layer message costs several
    # Redis round trips on each side, an answer more in the event costs nothing.
    keys_by_group = {}
    for payload in payloads:
        keys_by_group.setdefault(payload["group_name"], []).append(str(payload["key"]))
    if not keys_by_group:
        return

    async def send_all(layer):
        # A few at a time over warm connections: one connection per event would exhaust the pool.
        limit = asyncio.Semaphore(NOTIFY_CONCURRENCY)

        async def send(group, keys):
            async with limit:
                await layer.group_send(group, {"type": "rating.stored", "key": keys[0], "keys": keys})

        results = await asyncio.gather(*(send(group, keys) for group, keys in keys_by_group.items()), return_exceptions=True)
        return [result for result in results if isinstance(result, BaseException)]

    try:
        errors = run_on_channel_layer_loop(send_all(get_channel_layer()))
    except Exception:
        log.warning("could not confirm %d stored ratings", len(payloads), exc_info=True)
        return
    if errors:
        log.warning("could not confirm stored ratings to %d of %d participants: %r", len(errors), len(keys_by_group), errors[0])


NOTIFY_CONCURRENCY = 8
NOTIFY_TIMEOUT_S = 10
_channel_layer_loop = (None, None)  # (pid, event loop)


def run_on_channel_layer_loop(coroutine):
    """Run a coroutine on this worker process's own event loop, kept running in a thread, so the
    channel layer's Redis connections are reused batch after batch (async_to_sync would start a new
    loop, and so new connections, on every call). Where tasks run inside the web process (the
    embedded default) the web process's own loop is used, as async_to_sync finds it."""
    global _channel_layer_loop
    if settings.CELERY_TASK_ALWAYS_EAGER:

        async def await_it():
            return await coroutine

        return async_to_sync(await_it)()
    pid, loop = _channel_layer_loop
    if pid != os.getpid() or loop is None or not loop.is_running():  # new after a fork
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="channel-layer", daemon=True).start()
        _channel_layer_loop = (os.getpid(), loop)
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=NOTIFY_TIMEOUT_S)


def record_failed_task(task_name, payload, error, attempts):
    """Keep what a task gave up on as a dead letter researchers see (admin, study page)."""
    participant_id = payload.get("participant_id") if isinstance(payload, dict) else None
    try:
        key = UUID(str(payload.get("key"))) if isinstance(payload, dict) else None
    except ValueError:
        key = None
    trial_id = payload.get("trial_id") if isinstance(payload, dict) else None
    study_id = None
    if isinstance(participant_id, int):
        study_id = Participant.objects.filter(pk=participant_id).values_list("study_id", flat=True).first()
    elif isinstance(trial_id, int):
        study_id = Trial.objects.filter(pk=trial_id).values_list("participant__study_id", flat=True).first()
    return FailedTask.objects.create(
        task_name=task_name,
        study_id=study_id,
        key=key,
        payload=payload,
        error=f"{type(error).__name__}: {error}"[:10_000],
        attempts=attempts,
    )


# --- Trial telemetry and fidelity ---------------------------------------------------------------


def check_telemetry(context, message, received_at):
    """Validate a telemetry batch against the participant's own trials; return the task payload."""
    trial_id = context.trial_ids.get(message.trial)
    if trial_id is None:
        raise RatingRejected("unknown_trial", "There is no such trial for this session.")
    telemetry = message.model_dump(mode="json", exclude={"type", "key", "trial"})
    return {
        "key": str(message.key),
        "group_name": context.group_name,
        "trial_id": trial_id,
        "telemetry": telemetry,
        "received_at": received_at.isoformat(),
    }


def enqueue_telemetry(payload):
    from uxlab.studies.tasks import store_telemetry

    store_telemetry.apply_async(args=[payload], retry=True)


def trial_targets(trial):
    """{pane: {seq: (due_s, tokens, phase)}} of the trial's stream messages: rebuilt from its seed,
    or, for a live trial, as the server recorded them when it relayed them."""
    if trial.delivery == delivery.LIVE:
        targets = {"A": {}, "B": {}}
        for seq, pane, due_s, tokens, phase in trial.server_timing.get("relayed", []):
            targets[pane][seq] = (due_s, tokens, phase)
        return targets
    frames = trial_frames(trial_pane_specs(trial), **trial_layout(trial))
    messages = delivery.plan_messages(frames, trial.delivery or delivery.CONTROLLED)
    targets = {"A": {}, "B": {}}
    for message in messages:
        if message.kind == "delta":
            frame = message.frame
            targets[frame.pane][message.seq] = (frame.due_s, frame.tokens, frame.phase)
    return targets


def record_telemetry(payload):
    """Store one telemetry batch once per key and update the trial's fidelity summary from it."""
    key = UUID(payload["key"])
    telemetry = payload["telemetry"]
    with transaction.atomic():
        if not TrialTelemetry.objects.filter(key=key).exists():
            trial = (
                Trial.objects.select_for_update(of=("self",))
                .select_related("prompt", "arm_a", "arm_b", "participant__study")
                .get(pk=payload["trial_id"])
            )
            TrialTelemetry.objects.create(
                key=key, trial=trial, payload=telemetry, received_at=parse_datetime(payload["received_at"])
            )
            observed = {seq: (receive_ms, paint_ms) for seq, receive_ms, paint_ms in telemetry["frames"]}
            summary = fidelity.trial_fidelity(
                trial_targets(trial),
                observed,
                visibility=[(at / 1000, state) for at, state in telemetry.get("visibility", [])],
                frame_ms=telemetry.get("frame_ms") or fidelity.DEFAULT_FRAME_MS,
                interrupted=trial.status == Trial.Status.INTERRUPTED,
            )
            summary["restarts"], summary["resumes"] = trial.restarts, trial.resumes
            summary["clock"] = telemetry.get("clock")
            trial.fidelity = summary
            trial.hidden_during_stream = summary["time_hidden_s"] > 0
            trial.save(update_fields=["fidelity", "hidden_during_stream"])
        transaction.on_commit(
            lambda: notify_participant(payload["group_name"], {"type": "telemetry.stored", "key": str(key)})
        )


def notify_participant(group_name, event):
    """Send an event to the participant's open sockets; losing it only causes a harmless resend."""
    try:
        async_to_sync(get_channel_layer().group_send)(group_name, event)
    except Exception:
        log.warning("could not notify %s of %s", group_name, event.get("type"), exc_info=True)


def study_counts(study):
    return {
        "participants": study.participants.count(),
        "consented": study.participants.filter(consented_at__isnull=False).count(),
        "completed": study.participants.filter(completed_at__isnull=False).count(),
        "ratings": Rating.objects.filter(participant__study=study).count(),
        "failed_tasks": FailedTask.objects.filter(study=study).count(),
    }


def open_study(study):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LIVE)


# --- Researcher controls (issue 6) ---------------------------------------------------------------


def pause_study(study):
    """Stop new participants from starting; those already inside can finish. Returns the new status."""
    Study.objects.filter(pk=study.pk, status=Study.Status.LIVE).update(status=Study.Status.PAUSED)
    study.refresh_from_db(fields=["status"])
    return study.status


def resume_study(study):
    """Open a paused study again. Returns the new status."""
    Study.objects.filter(pk=study.pk, status=Study.Status.PAUSED).update(status=Study.Status.LIVE)
    study.refresh_from_db(fields=["status"])
    return study.status


def record_external_id_export(study, user, table, fmt):
    """Log that an owner downloaded panel ids (PROLIFIC_PID) with the study's data."""
    from uxlab.studies.models import ExportAudit

    log.info("user %s exported external ids of study %s (%s.%s)", user.pk, study.code, table, fmt)
    return ExportAudit.objects.create(study=study, user=user, table=table, format=fmt)


# --- Recording traces of live arms ---------------------------------------------------------------


class RecordingRefused(Exception):
    """A trace recording that cannot start (unknown study, arm or prompt; not a live arm)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def record_traces(study_code, arm_name, prompt_name=None, *, transport=None):
    """Capture a live arm's response to each prompt (or one) and store it as its RecordedTrace.

    Re-recording an arm and prompt replaces the earlier trace, so running this again (a retried
    task, a second command) leaves one trace per arm and prompt. Raises ``BackendError`` when the
    backend fails; prompts recorded before the failure stay stored.
    """
    from urllib.parse import urlsplit

    from uxlab.streaming.arms import live_settings
    from uxlab.streaming.backends.openai_compat import user_messages
    from uxlab.streaming.traces import capture_trace

    study = Study.objects.filter(code=study_code).first()
    if study is None:
        raise RecordingRefused("unknown_study", f"no study with code '{study_code}'")
    arm = study.arms.filter(name=arm_name).first()
    if arm is None:
        raise RecordingRefused("unknown_arm", f"study '{study_code}' has no arm '{arm_name}'")
    if arm.kind != Arm.Kind.LIVE:
        raise RecordingRefused("not_live", f"arm '{arm_name}' is {arm.kind}; only live arms can be recorded")
    prompts = list(study.prompts.all())
    if prompt_name is not None:
        prompts = [prompt for prompt in prompts if prompt.name == prompt_name]
        if not prompts:
            raise RecordingRefused("unknown_prompt", f"study '{study_code}' has no prompt '{prompt_name}'")
    settings = live_settings(arm.profile)
    source = f"{settings.model} at {urlsplit(settings.base_url).hostname}"
    recorded = []
    for prompt in prompts:
        trace = asyncio.run(capture_trace(settings, user_messages(prompt.text), transport=transport))
        stored, _created = RecordedTrace.objects.update_or_create(
            arm=arm,
            prompt=prompt,
            defaults={
                "study": study,
                "text": trace["text"],
                "reasoning": trace["reasoning"],
                "chunks": trace["chunks"],
                "usage": trace["usage"],
                "finish_reason": trace["finish_reason"] or "",
                "source": source,
                "recorded_at": timezone.now(),
            },
        )
        recorded.append(stored)
    return recorded
