"""The rating path: check an answer, hand it to a worker, store it exactly once, confirm it."""

import json
import logging
from uuid import UUID

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from uxlab.studies import events, queue
from uxlab.studies.actions.adaptive import advance_adaptive, advance_runs
from uxlab.studies.actions.attention import score_attention_trials
from uxlab.studies.actions.trials import SESSION_CLOSED
from uxlab.studies.models import AdaptiveStep, FailedTask, Participant, Rating, RatingConflict, Trial

log = logging.getLogger(__name__)


class RatingRejected(Exception):
    """An answer the server refuses; `code` is stable and sent to the browser."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class TrialNotShown(RatingRejected):
    """An answer or telemetry for a trial this context has not seen streamed. Another socket or
    process may have streamed it since the context was loaded: the consumer reads the trial back
    once (`load_progress`) and checks again before refusing."""


def check_session(context, trial_index):
    """The checks every answer and telemetry batch passes first; returns the trial's id."""
    if not context.consented:
        raise RatingRejected("not_consented", "Answers are accepted only after consent.")
    if context.state != "active":
        raise RatingRejected(*SESSION_CLOSED[context.state])
    trial_id = context.trial_ids.get(trial_index)
    if trial_id is None:
        raise RatingRejected("unknown_trial", "There is no such trial for this session.")
    return trial_id


def check_rating(context, message, received_at):
    """Validate a submitted answer against the participant's own trials; return the task payload.

    An answer is taken only for a trial that was shown (`ParticipantContext.trial_shown`: started,
    and its panes finished unless the study lets participants answer earlier). No query here: the
    context knows; the consumer refreshes it when it raises TrialNotShown.
    """
    trial_id = check_session(context, message.trial)
    question = context.questions.get(message.question)
    if question is None:
        raise RatingRejected("unknown_question", "There is no such question in this study.")
    question_id, question = question
    if not question.asked_on(message.trial):
        raise RatingRejected("question_not_asked", "This question is asked only after the first trial.")
    try:
        value = question.clean_value(message.value)
    except ValueError as error:
        raise RatingRejected("bad_value", str(error)) from None
    if not context.trial_shown(message.trial, received_at.timestamp()):
        raise TrialNotShown("trial_not_shown", "Answers are accepted only for a trial whose responses were shown.")
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
    payloads = list(payloads)
    queue.enqueue(queue.STORE_RATINGS, payloads, argsrepr=f"[<{len(payloads)} answer(s)>]")


def enqueue_telemetry(payloads):
    """Hand a batch of trials' telemetry to a worker in one broker message, at low priority: no
    answer waits behind it in the queue (a trial's telemetry costs a worker several times what its
    answers do). Raises when the broker does not take it."""
    payloads = list(payloads)
    argsrepr = f"[<telemetry of {len(payloads)} trial(s)>]"
    queue.enqueue(queue.STORE_TELEMETRY_BATCH, payloads, priority=queue.LOW_PRIORITY, argsrepr=argsrepr)


def without_nul(value):
    """`value` with every NUL character in its strings (keys included) replaced by U+FFFD: Postgres
    text and jsonb cannot hold U+0000."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_nul(item) for item in value]
    return value


RATING_FIELDS = ("participant_id", "trial_id", "question_id", "value", "response_ms")


def rating_key(payload):
    """The payload's idempotency key in canonical form (raises on a malformed one)."""
    return str(UUID(str(payload["key"])))


def rating_matches(stored, payload):
    """Whether a stored row ({field: value}) holds exactly this payload's answer."""
    return all(stored[name] == payload[name] for name in RATING_FIELDS)


# Storing a batch of answers in one statement: the rows come in as one JSON document (one parameter
# to bind, however large the batch), go in with ON CONFLICT DO NOTHING (an earlier or concurrent
# copy of a key, or an answer to a question already answered, wins), and what went in comes back;
# so do the batch's attention-check trials still to score and the adaptive runs it may advance. Binding a batch's fields one by one and
# reading every row back cost most of a worker's time (bench_ratings, docs/reliability.md).
INSERT_RATINGS_SQL = """
WITH inserted AS (
    INSERT INTO {rating} (key, participant_id, trial_id, question_id, value, response_ms, received_at, stored_at)
    SELECT r.key, r.participant_id, r.trial_id, r.question_id, r.value, r.response_ms, r.received_at, %(now)s
    FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(
        key uuid, participant_id bigint, trial_id bigint, question_id bigint, value text, response_ms integer,
        received_at timestamptz
    )
    ON CONFLICT DO NOTHING
    RETURNING id, key::text
)
SELECT id, key FROM inserted
UNION ALL
SELECT id, NULL FROM {trial}
WHERE id = ANY(%(trials)s) AND kind = 'attention' AND attention_passed IS NULL
UNION ALL
SELECT DISTINCT run_id, 'adaptive' FROM {step}
WHERE trial_id = ANY(%(trials)s) AND answered_at IS NULL
""".format(rating=Rating._meta.db_table, trial=Trial._meta.db_table, step=AdaptiveStep._meta.db_table)


def record_ratings(payloads):
    """Store a batch of answers in one transaction, each exactly once; return {key: outcome}.

    The key is the client's idempotency key. Outcomes: "stored" (a new row), "duplicate" (the same
    key and answer were stored before) or "conflict" (the same key with a different answer, or a
    second answer to an answered question): the first value is kept, never overwritten, and a
    RatingConflict records the resend. Any error rolls back the whole batch and is raised (an
    answer whose trial is gone fails the batch at commit; record_ratings_separately sorts it out).
    """
    outcomes = {}
    first_copies = {}
    for payload in payloads:
        first_copies.setdefault(rating_key(payload), payload)
    rows = [
        {"key": key, "received_at": payload["received_at"], **{name: payload[name] for name in RATING_FIELDS}}
        for key, payload in first_copies.items()
    ]
    trial_ids = sorted({payload["trial_id"] for payload in first_copies.values()})
    if connection.vendor != "postgresql":
        return record_ratings_portable(payloads, first_copies, trial_ids)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                INSERT_RATINGS_SQL, {"rows": json.dumps(rows), "now": timezone.now(), "trials": trial_ids}
            )
            returned = cursor.fetchall()
        inserted = {key: rating_id for rating_id, key in returned if key not in (None, "adaptive")}
        outcomes, unresolved = {}, []
        for payload in payloads:
            key = rating_key(payload)
            rating_id = inserted.get(key)
            if rating_id is None:
                unresolved.append(payload)
            elif rating_matches(first_copies[key], payload):
                outcomes.setdefault(key, "stored")
            else:  # a second copy in the same batch, disagreeing with the one just stored
                record_rating_conflict(key, payload, rating_id, "same key, different answer")
                outcomes.setdefault(key, "conflict")
        if unresolved:
            resolve_stored_before(unresolved, outcomes)
        # An attention check is scored with the answer that decides it, in the same transaction.
        attention = [trial_id for trial_id, key in returned if key is None]
        if attention:
            score_attention_trials(attention)
        # An adaptive trial's answer chooses the next trial, here, before "stored" reaches the page.
        runs = [run_id for run_id, key in returned if key == "adaptive"]
        if runs:
            advance_runs(runs)
    return outcomes


def record_ratings_portable(payloads, first_copies, trial_ids):
    """record_ratings on databases other than Postgres (the embedded default's SQLite): a bulk
    insert ignoring conflicts, then every copy judged against the stored rows."""
    now = timezone.now()
    with transaction.atomic():
        Rating.objects.bulk_create(
            [
                Rating(key=key, received_at=parse_datetime(payload["received_at"]), stored_at=now,
                       **{name: payload[name] for name in RATING_FIELDS})
                for key, payload in first_copies.items()
            ],
            ignore_conflicts=True,
        )  # fmt: skip
        new = set(
            str(key) for key in Rating.objects.filter(key__in=list(first_copies), stored_at=now).values_list("key", flat=True)
        )
        outcomes, unresolved = {}, []
        for payload in payloads:
            key = rating_key(payload)
            if key in new and rating_matches(first_copies[key], payload):
                outcomes.setdefault(key, "stored")
            else:
                unresolved.append(payload)
        if unresolved:
            resolve_stored_before(unresolved, outcomes)
        score_attention_trials(trial_ids)
        advance_adaptive(trial_ids)
    return outcomes


def resolve_stored_before(payloads, outcomes):
    """Outcomes of answers the batch's insert did not store: the same key stored before (a
    duplicate, or a conflict if the answer differs) or another answer to the same question."""
    columns = ("id", "key", *RATING_FIELDS)
    keys = list({rating_key(payload) for payload in payloads})
    # order_by(): Rating's default ordering joins Trial, which would hide a row whose trial is gone.
    stored = {
        str(row[1]): dict(zip(columns, row))
        for row in Rating.objects.filter(key__in=keys).order_by().values_list(*columns)
    }
    for payload in payloads:
        key = rating_key(payload)
        row = stored.get(key)
        if row is not None and rating_matches(row, payload):
            outcomes.setdefault(key, "duplicate")
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


def record_rating_conflict(key, payload, rating_id, reason):
    """Keep a disagreeing resend; the same message delivered twice is recorded once. Past
    UXLAB_RATING_CONFLICTS_MAX rows for one participant nothing more is kept (a script resending
    answers cannot fill the table); the resend is still confirmed, so an honest outbox stops."""
    if RatingConflict.objects.filter(key=key, stored_rating_id=rating_id, payload=payload).exists():
        return
    participant_id = payload["participant_id"]
    if Participant.objects.filter(pk=participant_id, completed_at__isnull=False).exists():
        return  # a resend racing the session's end: the answers are final, nothing more is kept
    kept = RatingConflict.objects.filter(participant_id=participant_id).count()
    if kept >= settings.UXLAB_RATING_CONFLICTS_MAX:
        return
    RatingConflict.objects.create(
        key=key, participant_id=participant_id, stored_rating_id=rating_id, payload=payload, reason=reason
    )
    if kept + 1 == settings.UXLAB_RATING_CONFLICTS_MAX:
        log.warning("participant %s reached %d rating conflicts; later ones are not kept", participant_id, kept + 1)


def record_ratings_separately(payloads):
    """Store each answer in its own transaction, so one that cannot be stored does not hold up the
    rest; return ({key: outcome}, [(payload, error)]). A lost connection is raised, not collected.

    An answer of a participant who withdrew while it was queued (their trials are gone, so it
    fails its batch) gets the outcome "withdrawn": it is not stored, retried or dead-lettered.
    Checked here, on the path a failed batch takes, so a batch that stores cleanly costs no query."""
    outcomes, failures = {}, []
    withdrawn = withdrawn_participants(payload.get("participant_id") for payload in payloads if isinstance(payload, dict))
    for payload in payloads:
        if isinstance(payload, dict) and payload.get("participant_id") in withdrawn:
            try:
                outcomes[rating_key(payload)] = "withdrawn"
                continue
            except (KeyError, ValueError, TypeError):
                pass  # a malformed key fails below, as it would have
        try:
            outcomes.update(record_ratings([payload]))
        except (OperationalError, InterfaceError):
            raise
        except Exception as error:
            failures.append((payload, error))
    return outcomes, failures


def withdrawn_participants(ids):
    """Which of these participant numbers withdrew (actions/privacy.py)."""
    ids = [pk for pk in set(ids) if isinstance(pk, int) and not isinstance(pk, bool)]
    if not ids:
        return set()
    return set(
        Participant.objects.filter(pk__in=ids, status=Participant.Status.WITHDRAWN).values_list("pk", flat=True)
    )


def notify_ratings_stored(payloads):
    """Tell each participant's open sockets that these answers are safely stored: one event per
    participant and batch, listing its keys (an answer more in an event costs nothing, an event more
    costs Redis round trips). Call it after the commit; a lost event only causes a harmless resend.
    """
    keys_by_group = {}
    for payload in payloads:
        keys_by_group.setdefault(payload["group_name"], []).append(str(payload["key"]))
    events.send_events_on_commit(
        (group, {"type": "rating.stored", "key": keys[0], "keys": keys}) for group, keys in keys_by_group.items()
    )


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
        payload=without_nul(payload),  # a dead letter must be storable whatever made the task fail
        error=f"{type(error).__name__}: {error}".replace("\x00", "\ufffd")[:10_000],
        attempts=attempts,
    )
