"""How the worker stores a telemetry batch (actions/telemetry.py): its statements, the summary of
the trial's latest batch, and batches of one trial stored by two workers at once."""

import asyncio
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import import_yaml, mark_trials_shown
from tests.studies.test_trial_start import TRACE_STUDY as TRIAL_START_TRACE_STUDY
from uxlab.studies import actions
from uxlab.studies.models import Arm, RecordedTrace, Trial, TrialTelemetry

pytestmark = pytest.mark.django_db

# Every message of the trial received and painted ([seq, receive_ms, paint_ms]).
FRAMES = [[seq, 10.0 * seq, 20.0 * seq] for seq in range(1, 100)]


def batch(trial, frames=FRAMES, received_at=None, **telemetry):
    return {
        "key": str(uuid.uuid4()),
        "participant_id": trial.participant_id,
        "group_name": trial.participant.group_name,
        "trial_id": trial.pk,
        "telemetry": {"frames": frames, "frame_ms": 16.7, **telemetry},
        "received_at": (received_at or timezone.now()).isoformat(),
    }


@pytest.fixture
def shown_trial(participant):
    return mark_trials_shown(participant).trials.select_related("participant").get(index=0)


def statements(queries):
    """The statements sent, without the savepoints the test's own transaction turns BEGIN/COMMIT into."""
    return [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]


def test_it_stores_a_first_batch_in_three_statements_and_takes_a_resend_in_one(shown_trial):
    first = batch(shown_trial)
    with CaptureQueriesContext(connection) as queries:
        actions.record_telemetry(first)
    assert len(statements(queries)) == 3, statements(queries)
    assert Trial.objects.get(pk=shown_trial.pk).fidelity["panes"]["A"]["tokens_shown"] > 0
    with CaptureQueriesContext(connection) as queries:
        actions.record_telemetry(first)
    assert len(statements(queries)) == 1, statements(queries)
    with CaptureQueriesContext(connection) as queries:
        actions.record_telemetry(batch(shown_trial))  # a second batch of the trial
    assert len(statements(queries)) == 3, statements(queries)
    assert TrialTelemetry.objects.filter(trial=shown_trial).count() == 2


def test_it_keeps_the_summary_of_the_latest_batch_whatever_order_they_are_stored_in(shown_trial):
    now = timezone.now()
    latest = batch(shown_trial, received_at=now)
    earlier = batch(shown_trial, frames=[], received_at=now - timedelta(seconds=5))
    actions.record_telemetry(latest)
    summary = Trial.objects.get(pk=shown_trial.pk).fidelity
    assert summary["panes"]["A"]["frames_painted"] > 0
    actions.record_telemetry(earlier)  # stored after, received before: the summary stays the latest's
    assert TrialTelemetry.objects.filter(trial=shown_trial).count() == 2
    assert Trial.objects.get(pk=shown_trial.pk).fidelity == summary
    Trial.objects.filter(pk=shown_trial.pk).update(restarts=1)  # read back when the summary is recomputed
    actions.record_telemetry(batch(shown_trial, frames=[], received_at=now - timedelta(seconds=1)))
    assert Trial.objects.get(pk=shown_trial.pk).fidelity == {**summary, "restarts": 1}
    actions.record_telemetry(batch(shown_trial, frames=[], received_at=now + timedelta(seconds=1)))
    newest = Trial.objects.get(pk=shown_trial.pk).fidelity
    assert newest["panes"]["A"]["frames_painted"] == 0 and newest["interrupted"] is True


# The trial-start tests' recorded-trace study, shown one pane after the other.
TRACE_STUDY = TRIAL_START_TRACE_STUDY.replace("title: A recorded trace", "title: A recorded trace, shown after the other pane").replace(
    "  pairs: [[replayed, paced]]\n", "  pairs: [[replayed, paced]]\n  layout: sequential\n  sequential_gap_s: 0.5\n"
)


def test_it_summarises_from_what_it_read_in_one_statement_as_from_the_trial_itself(team):
    """A trace arm's recording and a sequential layout come from the batch's first statement: the
    summary is the one refresh_fidelity computes from the Trial (its own queries)."""
    study = import_yaml(TRACE_STUDY, team)
    RecordedTrace.objects.create(
        study=study, arm=Arm.objects.get(study=study, name="recorded"), prompt=study.prompts.get(),
        text="The recorded answer, in more words than one.", reasoning="",
        chunks=[{"t": 0.1 + 0.02 * index, "phase": "answer", "text": word + " "}
                for index, word in enumerate("The recorded answer, in more words than one.".split())],
    )  # fmt: skip
    participant = actions.give_consent(actions.enroll_participant(study))
    actions.start_trial(participant.pk, 0)
    trial = participant.trials.select_related("participant").get(index=0)
    actions.record_telemetry(batch(trial, visibility=[[150.0, "hidden"], [400.0, "visible"]]))
    stored = Trial.objects.get(pk=trial.pk)
    assert stored.fidelity["panes"]["A"]["tokens_shown"] > 0 and stored.hidden_during_stream
    recomputed = Trial.objects.select_related("prompt", "arm_a", "arm_b", "participant__study").get(pk=trial.pk)
    Trial.objects.filter(pk=trial.pk).update(fidelity={}, hidden_during_stream=False)
    actions.refresh_fidelity(recomputed)
    assert Trial.objects.get(pk=trial.pk).fidelity == stored.fidelity


def in_another_worker(action):
    """Run `action` in a thread with its own database connection; returns the thread and a list
    that receives its result or error."""
    outcome = []

    def run():
        try:
            outcome.append(action())
        except Exception as error:
            outcome.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def wait_until_it_waits_for_a_lock(thread, outcome, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise AssertionError(f"the other worker did not wait for the trial's row: {outcome!r}")
            # Within a transaction the statistics views keep their first snapshot unless told not to.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the other worker never waited for the trial's row")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_key", [False, True], ids=["past_the_limit", "same_key"])
def test_a_batch_that_waited_for_its_trial_counts_the_batches_stored_meanwhile(shown_trial, settings, same_key):
    """The byte limit and exactly-once hold when another worker stores a batch of the same trial
    while this one waits for the trial's row: the sum and the insert see what was stored meanwhile.
    A batch whose key was stored meanwhile is confirmed, not an error."""
    first = batch(shown_trial)
    if same_key:
        waiting = {**first, "received_at": timezone.now().isoformat()}
    else:
        settings.UXLAB_TELEMETRY_BYTES_PER_TRIAL = 1_000  # the first batch alone is over it
        waiting = batch(shown_trial)
    with transaction.atomic():
        # Another worker holds the trial while it stores the first batch.
        Trial.objects.select_for_update().get(pk=shown_trial.pk)
        thread, outcome = in_another_worker(lambda: actions.record_telemetry(waiting))
        wait_until_it_waits_for_a_lock(thread, outcome)
        TrialTelemetry.objects.create(
            key=first["key"], trial=shown_trial, payload=first["telemetry"], received_at=timezone.now()
        )
    thread.join(timeout=10)
    assert outcome == [None]  # stored, or not kept, and confirmed: not an error
    assert list(TrialTelemetry.objects.values_list("key", flat=True)) == [uuid.UUID(first["key"])]


@pytest.mark.django_db(transaction=True)
def test_it_confirms_the_batches_of_one_message_in_one_send(shown_trial):
    """store_telemetry_batch stores each batch in its own transaction, and confirms them all at the
    end in one send: the participant's web process gets one message holding every confirmation."""
    from asgiref.sync import sync_to_async
    from channels_redis.core import RedisChannelLayer
    from django.conf import settings

    from uxlab.studies import tasks
    from uxlab.studies.events import BATCH_TYPE

    batches = [batch(shown_trial) for _ in range(3)]

    def store():
        try:
            return tasks.store_telemetry_batch.apply(args=[batches]).get()
        finally:
            connections.close_all()

    async def scenario():
        # The participant's page, on a web process of its own (the worker sends through settings' layer).
        web = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
        channel = await web.new_channel()
        await web.group_add(shown_trial.participant.group_name, channel)
        try:
            assert await sync_to_async(store)() == {"telemetry": 3}
            message = await asyncio.wait_for(web.receive(channel), 5)
            assert message["type"] == BATCH_TYPE
            assert [event["key"] for event in message["events"][channel]] == [payload["key"] for payload in batches]
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(web.receive(channel), 0.3)
        finally:
            await web.flush()
            await web.close_pools()

    asyncio.run(scenario())


def test_it_keeps_what_a_thinned_batch_left_out_with_the_batch_and_in_the_trials_summary(shown_trial):
    """A page thins a batch past a frame's limit (docs/protocol.md, Telemetry) and says how many entries
    it left out: the check keeps that with the batch (a batch sent whole stores no mark), and the
    trial's fidelity summary carries it as telemetry_truncated."""
    from uxlab.live.protocol import TelemetrySubmit

    context = actions.load_participant_context(shown_trial.participant.token)
    context.learn_started(0, timezone.now().timestamp())
    left_out = {"frames": 0, "updates": 5120, "visibility": 0, "focus": 0}
    whole = TelemetrySubmit(type="telemetry.submit", key=uuid.uuid4(), trial=0, frames=FRAMES)
    thinned = TelemetrySubmit(type="telemetry.submit", key=uuid.uuid4(), trial=0, frames=FRAMES, truncated=left_out)

    whole_payload = actions.check_telemetry(context, whole, timezone.now())
    actions.record_telemetry(whole_payload)
    assert "truncated" not in whole_payload["telemetry"]
    assert "telemetry_truncated" not in Trial.objects.get(pk=shown_trial.pk).fidelity

    thinned_payload = actions.check_telemetry(context, thinned, timezone.now())
    actions.record_telemetry(thinned_payload)
    assert TrialTelemetry.objects.get(key=thinned.key).payload["truncated"] == left_out
    assert Trial.objects.get(pk=shown_trial.pk).fidelity["telemetry_truncated"] == left_out


@pytest.mark.parametrize("nothing_left_out", [{}, {"frames": 0, "updates": 0, "visibility": 0, "focus": 0}])
def test_it_stores_a_batch_marked_truncated_with_nothing_left_out_as_sent_whole(shown_trial, nothing_left_out):
    """`truncated: {}` or all counts zero thinned nothing: the batch is stored with no mark and the
    trial's fidelity summary claims no thinning."""
    from uxlab.live.protocol import TelemetrySubmit

    context = actions.load_participant_context(shown_trial.participant.token)
    context.learn_started(0, timezone.now().timestamp())
    marked = TelemetrySubmit(type="telemetry.submit", key=uuid.uuid4(), trial=0, frames=FRAMES, truncated=nothing_left_out)

    actions.record_telemetry(actions.check_telemetry(context, marked, timezone.now()))

    assert "truncated" not in TrialTelemetry.objects.get(key=marked.key).payload
    assert "telemetry_truncated" not in Trial.objects.get(pk=shown_trial.pk).fidelity


def test_it_summarises_an_update_claiming_more_tokens_than_its_message_has_without_building_them(shown_trial):
    """A batch the socket took before counts were bounded (or any payload in the queue): an update of
    a trillion tokens counts as the message's own tokens, not a list of a trillion entries (a
    MemoryError, or the worker's memory, before)."""
    payload = batch(shown_trial, updates=[[1, 10**12, 20.0, 21.0]])
    actions.record_telemetry(payload)
    panes = Trial.objects.get(pk=shown_trial.pk).fidelity["panes"]
    assert all(pane["tokens_shown"] <= pane["tokens"] for pane in panes.values())
