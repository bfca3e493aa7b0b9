"""The rules of the rating path at the action level: rejection codes, idempotency, conflicts,
isolation of an item that cannot be stored, and the dead letter."""

import uuid

import pytest
from django.db import IntegrityError
from django.utils import timezone

from tests.conftest import QUICK_STUDY_YAML, import_yaml, mark_trials_shown
from uxlab.live.protocol import RatingSubmit
from uxlab.studies import actions
from uxlab.studies.models import FailedTask, Rating, RatingConflict

pytestmark = pytest.mark.django_db


@pytest.fixture
def participant(participant):
    """The conftest participant with their trials shown (answers are taken only for those)."""
    return mark_trials_shown(participant)


def submit(trial=0, question="faster", value="A", key=None, response_ms=500):
    return RatingSubmit(
        type="rating.submit", key=key or uuid.uuid4(), trial=trial, question=question, value=value, response_ms=response_ms
    )


def payload_for(participant, **fields):
    context = actions.load_participant_context(participant.token)
    return actions.check_rating(context, submit(**fields), timezone.now())


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"trial": 7}, "unknown_trial"),
        ({"question": "slower"}, "unknown_question"),
        ({"value": "C"}, "bad_value"),
        ({"value": "a"}, "bad_value"),
    ],
)
def test_it_rejects_an_answer_with_a_stable_code_and_stores_nothing(participant, fields, code):
    with pytest.raises(actions.RatingRejected) as rejected:
        payload_for(participant, **fields)
    assert rejected.value.code == code
    assert Rating.objects.count() == 0


def test_it_rejects_an_answer_before_consent(study):
    newcomer = actions.enroll_participant(study)
    with pytest.raises(actions.RatingRejected) as rejected:
        payload_for(newcomer)
    assert rejected.value.code == "not_consented"


def test_it_rejects_an_answer_for_a_trial_of_another_participant(study, participant, other_team):
    other = actions.give_consent(actions.enroll_participant(study))
    other_lab_study = import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: quick2"), other_team)
    stranger = actions.give_consent(actions.enroll_participant(other_lab_study))
    context = actions.load_participant_context(participant.token)
    # Trial indexes are per participant: a payload can only ever name this participant's trials.
    payload = actions.check_rating(context, submit(), timezone.now())
    assert payload["trial_id"] == participant.trials.get(index=0).pk
    assert payload["trial_id"] not in {other.trials.get(index=0).pk, stranger.trials.get(index=0).pk}
    with pytest.raises(actions.RatingRejected) as rejected:
        actions.check_rating(context, submit(trial=1), timezone.now())
    assert rejected.value.code == "unknown_trial"


def test_it_stores_a_resent_answer_once_and_calls_the_resend_a_duplicate(participant):
    payload = payload_for(participant, value="B", response_ms=812)
    assert actions.record_ratings([payload]) == {payload["key"]: "stored"}
    assert actions.record_ratings([payload]) == {payload["key"]: "duplicate"}
    stored = Rating.objects.get()
    assert (str(stored.key), stored.value, stored.response_ms) == (payload["key"], "B", 812)
    assert RatingConflict.objects.count() == 0


def test_it_stores_copies_of_one_key_within_a_batch_once(participant):
    payload = payload_for(participant)
    assert actions.record_ratings([payload, dict(payload), dict(payload)]) == {payload["key"]: "stored"}
    assert Rating.objects.count() == 1


def test_it_keeps_the_first_value_when_the_same_key_comes_back_different(participant):
    first = payload_for(participant, value="A")
    actions.record_ratings([first])
    changed = {**first, "value": "B"}
    assert actions.record_ratings([changed]) == {first["key"]: "conflict"}
    assert actions.record_ratings([changed]) == {first["key"]: "conflict"}  # the same message again
    assert Rating.objects.get().value == "A"
    conflict = RatingConflict.objects.get()
    assert (conflict.reason, conflict.payload["value"], str(conflict.key)) == ("same key, different answer", "B", first["key"])


def test_it_keeps_the_first_value_when_both_disagreeing_copies_arrive_in_one_batch(participant):
    first = payload_for(participant, value="tie")
    assert actions.record_ratings([first, {**first, "value": "B"}]) == {first["key"]: "stored"}
    assert Rating.objects.get().value == "tie"
    assert RatingConflict.objects.get().payload["value"] == "B"


def test_it_records_a_second_answer_to_the_same_question_as_a_conflict(participant):
    first = payload_for(participant, value="A")
    second = payload_for(participant, value="B")
    assert actions.record_ratings([first, second]) == {first["key"]: "stored", second["key"]: "conflict"}
    assert list(Rating.objects.values_list("value", flat=True)) == ["A"]
    assert RatingConflict.objects.get().reason == "question already answered"


@pytest.mark.django_db(transaction=True)  # Postgres checks foreign keys at commit
def test_it_rolls_back_a_whole_batch_that_holds_an_item_it_cannot_store(participant):
    good = payload_for(participant)
    poison = {**payload_for(participant), "question_id": 999_999_999}
    with pytest.raises(IntegrityError):
        actions.record_ratings([good, poison])
    assert Rating.objects.count() == 0


@pytest.mark.django_db(transaction=True)  # Postgres checks foreign keys at commit
def test_it_keeps_nothing_of_an_answer_queued_before_a_withdrawal_and_stores_the_others(participant, study):
    """The participant withdrew while the answer was queued: the batch fails on it, and then it is
    neither stored nor retried nor dead-lettered (actions/privacy.py); the others are stored."""
    from uxlab.studies import tasks

    gone = payload_for(participant)
    other = mark_trials_shown(actions.give_consent(actions.enroll_participant(study)))
    good = payload_for(other)
    actions.withdraw_participant(participant, "participant")
    assert tasks.store_ratings.apply(args=[[gone, good]]).get() == {"withdrawn": 1, "stored": 1}
    assert list(Rating.objects.values_list("key", flat=True)) == [uuid.UUID(good["key"])]
    assert not FailedTask.objects.exists()


def test_it_stores_the_good_items_separately_and_returns_the_bad_one(participant, study):
    good = payload_for(participant)
    other = mark_trials_shown(actions.give_consent(actions.enroll_participant(study)))
    also_good = payload_for(other)
    malformed = {**payload_for(participant), "key": "not-a-uuid"}
    outcomes, failures = actions.record_ratings_separately([good, malformed, also_good])
    assert outcomes == {good["key"]: "stored", also_good["key"]: "stored"}
    assert [payload for payload, _error in failures] == [malformed]
    assert Rating.objects.count() == 2


@pytest.mark.django_db(transaction=True)  # Postgres checks foreign keys at commit
def test_it_returns_an_item_it_cannot_store_and_stores_the_others(participant):
    good = payload_for(participant)
    orphan = {**payload_for(participant, question="faster"), "question_id": 999_999_999}
    outcomes, failures = actions.record_ratings_separately([orphan, good])
    assert outcomes == {good["key"]: "stored"}
    assert [(payload, type(error)) for payload, error in failures] == [(orphan, IntegrityError)]
    assert list(Rating.objects.values_list("key", flat=True)) == [uuid.UUID(good["key"])]


def test_it_keeps_a_dead_letter_with_its_study_and_counts_it(participant, study):
    poison = {**payload_for(participant), "trial_id": 999_999_999}
    failed = actions.record_failed_task("uxlab.studies.tasks.store_ratings", poison, IntegrityError("fk"), 8)
    assert FailedTask.objects.get() == failed
    assert (failed.study, str(failed.key), failed.attempts, failed.payload) == (study, poison["key"], 8, poison)
    assert failed.error == "IntegrityError: fk"
    assert actions.study_counts(study)["failed_tasks"] == 1


def test_it_keeps_a_dead_letter_for_a_payload_it_cannot_even_read(db):
    failed = actions.record_failed_task("uxlab.studies.tasks.store_ratings", ["garbage"], KeyError("key"), 3)
    assert (failed.study, failed.key, failed.payload) == (None, None, ["garbage"])


# --- answers only for shown trials (issue 11) ---------------------------------------------------


def context_for(participant, answering="after_both", min_exposure_s=0.0, started_s_ago=None, finished=False):
    context = actions.load_participant_context(participant.token)
    context.answering, context.min_exposure_s = answering, min_exposure_s
    if started_s_ago is not None:
        context.learn_started(0, timezone.now().timestamp() - started_s_ago)
    if finished:
        context.learn_finished(0)
    return context


@pytest.mark.parametrize(
    ("answering", "min_exposure_s", "started_s_ago", "finished", "taken"),
    [
        ("after_both", 0, None, False, False),  # never started
        ("after_both", 0, 5, False, False),  # still streaming
        ("after_both", 0, 5, True, True),
        ("any_time", 0, None, False, False),  # even any_time needs the trial started
        ("any_time", 0, 0, False, True),
        ("min_exposure", 10, 3, False, False),
        ("min_exposure", 10, 12, False, True),
        ("min_exposure", 10, 3, True, True),  # finished: shown whatever the exposure
    ],
)
def test_it_takes_a_cheaters_answer_only_for_a_shown_trial(study, answering, min_exposure_s, started_s_ago, finished, taken):
    participant = actions.give_consent(actions.enroll_participant(study))
    context = context_for(participant, answering, min_exposure_s, started_s_ago, finished)
    if taken:
        assert actions.check_rating(context, submit(), timezone.now())["trial_id"] == context.trial_ids[0]
    else:
        with pytest.raises(actions.TrialNotShown) as rejected:
            actions.check_rating(context, submit(), timezone.now())
        assert rejected.value.code == "trial_not_shown"


def test_it_learns_a_trial_shown_elsewhere_from_its_stored_progress(study):
    participant = actions.give_consent(actions.enroll_participant(study))
    context = actions.load_participant_context(participant.token)
    with pytest.raises(actions.TrialNotShown):
        actions.check_rating(context, submit(), timezone.now())
    mark_trials_shown(participant)  # another socket streamed it meanwhile
    context.learn_progress(actions.load_progress(participant.pk, 0))
    assert actions.check_rating(context, submit(), timezone.now())


def test_it_takes_a_cheaters_telemetry_only_for_a_streamed_trial_and_within_the_limit(study, settings):
    from uxlab.live.protocol import TelemetrySubmit

    settings.UXLAB_TELEMETRY_BYTES_PER_TRIAL = 1_000
    participant = actions.give_consent(actions.enroll_participant(study))
    context = context_for(participant)

    def batch():
        return TelemetrySubmit(type="telemetry.submit", key=uuid.uuid4(), trial=0, frames=[])

    with pytest.raises(actions.TrialNotShown) as rejected:
        actions.check_telemetry(context, batch(), timezone.now(), size=10)
    assert rejected.value.code == "trial_not_streamed"
    context.learn_started(0, timezone.now().timestamp())
    first, second = batch(), batch()
    actions.check_telemetry(context, first, timezone.now(), size=1_500)  # a first batch of any size
    actions.check_telemetry(context, first, timezone.now(), size=1_500)  # its resend is not counted again
    with pytest.raises(actions.RatingRejected) as rejected:
        actions.check_telemetry(context, second, timezone.now(), size=10)
    assert rejected.value.code == "telemetry_limit"


def test_it_keeps_a_limited_number_of_a_cheaters_conflicts(participant, settings):
    settings.UXLAB_RATING_CONFLICTS_MAX = 3
    first = payload_for(participant, value="A")
    actions.record_ratings([first])
    resends = [payload_for(participant, value="B") for _ in range(6)]
    assert actions.record_ratings(resends) == {payload["key"]: "conflict" for payload in resends}
    assert RatingConflict.objects.count() == 3 and Rating.objects.get().value == "A"


def test_it_refuses_answers_of_a_session_that_is_over(participant):
    context = actions.load_participant_context(participant.token)
    for state, code in (("expired", "session_expired"), ("completed", "session_completed")):
        context.state = state
        with pytest.raises(actions.RatingRejected) as rejected:
            actions.check_rating(context, submit(), timezone.now())
        assert rejected.value.code == code


def test_it_stores_a_batch_of_new_answers_in_one_statement_whatever_its_size(study):
    """The worker's cost per batch does not grow with round trips per answer: the atomic block's
    savepoint pair and one statement, for one answer or for the answers of many participants."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    participants = [mark_trials_shown(actions.give_consent(actions.enroll_participant(study))) for _ in range(20)]
    batch = [payload_for(participant) for participant in participants]
    with CaptureQueriesContext(connection) as queries:
        outcomes = actions.record_ratings(batch)
    assert list(outcomes.values()) == ["stored"] * 20 and Rating.objects.count() == 20
    statements = [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]
    assert len(statements) == 1, statements


def test_telemetry_queued_before_a_withdrawal_is_dropped_and_a_lost_trial_is_still_an_error(participant, study):
    mark_trials_shown(participant)
    trial = participant.trials.get(index=0)
    payload = {"key": str(uuid.uuid4()), "participant_id": participant.pk, "group_name": participant.group_name,
               "trial_id": trial.pk, "telemetry": {"frames": []}, "received_at": timezone.now().isoformat()}
    other = mark_trials_shown(actions.give_consent(actions.enroll_participant(study)))
    lost = {**payload, "key": str(uuid.uuid4()), "participant_id": other.pk, "group_name": other.group_name}
    actions.withdraw_participant(participant, "participant")
    assert actions.record_telemetry(payload) is None  # dropped: nothing to store it with, nothing to retry
    with pytest.raises(Exception, match="does not exist"):
        actions.record_telemetry(lost)  # not withdrawn: retried, then a dead letter, as before


def telemetry_payload(participant, index=0):
    trial = participant.trials.get(index=index)
    return {"key": str(uuid.uuid4()), "participant_id": participant.pk, "group_name": participant.group_name,
            "trial_id": trial.pk, "telemetry": {"frames": []}, "received_at": timezone.now().isoformat()}  # fmt: skip


def test_it_stores_the_telemetry_published_with_answers_after_them(participant):
    from uxlab.studies import tasks
    from uxlab.studies.models import TrialTelemetry

    answer, telemetry = payload_for(participant), telemetry_payload(participant)
    assert tasks.store_ratings.apply(args=[[answer], [telemetry]]).get() == {"stored": 1}
    assert list(Rating.objects.values_list("key", flat=True)) == [uuid.UUID(answer["key"])]
    assert list(TrialTelemetry.objects.values_list("key", flat=True)) == [uuid.UUID(telemetry["key"])]
    # Redelivered (a worker killed after the commits): nothing is stored twice.
    assert tasks.store_ratings.apply(args=[[answer], [telemetry]]).get() == {"duplicate": 1}
    assert Rating.objects.count() == 1 and TrialTelemetry.objects.count() == 1


def test_it_hands_telemetry_it_cannot_store_to_its_own_task_and_still_stores_the_answers(participant, monkeypatch):
    from uxlab.studies import queue, tasks
    from uxlab.studies.models import TrialTelemetry

    queued = []
    monkeypatch.setattr(queue, "enqueue", lambda name, *args, priority=None: queued.append((name, args, priority)))
    answer, good = payload_for(participant), telemetry_payload(participant)
    lost = {**telemetry_payload(participant), "trial_id": 999_999_999}  # its trial is gone: an error to retry
    assert tasks.store_ratings.apply(args=[[answer], [lost, good]]).get() == {"stored": 1}
    assert queued == [(queue.STORE_TELEMETRY, (lost,), queue.LOW_PRIORITY)]
    assert list(TrialTelemetry.objects.values_list("key", flat=True)) == [uuid.UUID(good["key"])]
    assert Rating.objects.count() == 1


def test_it_stores_a_batch_of_telemetry_sent_on_its_own_once_each(participant, monkeypatch):
    from uxlab.studies import queue, tasks
    from uxlab.studies.models import TrialTelemetry

    queued = []
    monkeypatch.setattr(queue, "enqueue", lambda name, *args, priority=None: queued.append((name, args, priority)))
    first, second = telemetry_payload(participant), telemetry_payload(participant)  # two batches of one trial
    lost = {**telemetry_payload(participant), "trial_id": 999_999_999}
    assert tasks.store_telemetry_batch.apply(args=[[first, lost, second]]).get() == {"telemetry": 3}
    assert queued == [(queue.STORE_TELEMETRY, (lost,), queue.LOW_PRIORITY)]
    # Redelivered: nothing is stored twice.
    tasks.store_telemetry_batch.apply(args=[[first, second]]).get()
    assert sorted(TrialTelemetry.objects.values_list("key", flat=True)) == sorted(
        uuid.UUID(p["key"]) for p in (first, second)
    )
