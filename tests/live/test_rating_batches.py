"""The web process's batcher of answers: one publish per batch, failures reach every caller, and a
hung publish never blocks the event loop."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from uxlab.live.rating_batches import TELEMETRY_BATCH_BYTES, RatingBatcher


class Broker:
    """Records what was published from the batcher's threads; can fail or hang on demand."""

    def __init__(self):
        self.batches = []
        self.telemetry = []  # the telemetry of each batch
        self.error = None
        self.telemetry_error = None
        self.release = threading.Event()
        self.release.set()

    def publish(self, payloads):
        self.release.wait(10)
        if self.error is not None:
            raise self.error
        self.batches.append(payloads)

    def publish_telemetry(self, payloads):
        self.release.wait(10)
        if self.telemetry_error is not None:
            raise self.telemetry_error
        self.telemetry.append(payloads)


def make_batcher(broker, max_wait_s=0.01, max_size=100):
    return RatingBatcher(
        broker.publish, broker.publish_telemetry, max_wait_s=max_wait_s, max_size=max_size,
        executor=ThreadPoolExecutor(max_workers=2),
    )


@pytest.mark.asyncio
async def test_it_publishes_answers_that_arrive_together_as_one_batch():
    broker = Broker()
    batcher = make_batcher(broker)
    await asyncio.gather(*(batcher.submit({"key": n}) for n in range(5)))
    assert broker.batches == [[{"key": n} for n in range(5)]]


@pytest.mark.asyncio
async def test_it_publishes_telemetry_in_a_message_of_its_own_and_sends_big_telemetry_at_once():
    broker = Broker()
    batcher = make_batcher(broker, max_wait_s=30)
    together = [batcher.submit({"key": "a1"}), batcher.submit({"key": "t1"}, telemetry=True, size=2_000),
                batcher.submit({"key": "a2"})]  # fmt: skip
    big = batcher.submit({"key": "t2"}, telemetry=True, size=TELEMETRY_BATCH_BYTES)  # fills the batch: out at once
    await asyncio.wait_for(asyncio.gather(*together, big), timeout=5)
    assert broker.batches == [[{"key": "a1"}, {"key": "a2"}]]
    assert broker.telemetry == [[{"key": "t1"}, {"key": "t2"}]]


@pytest.mark.asyncio
async def test_telemetry_the_broker_refused_fails_only_its_own_callers():
    broker = Broker()
    broker.telemetry_error = ConnectionError("broker down")
    batcher = make_batcher(broker)
    results = await asyncio.gather(batcher.submit({"key": "a"}), batcher.submit({"key": "t"}, telemetry=True, size=10),
                                   return_exceptions=True)  # fmt: skip
    assert [type(result) for result in results] == [type(None), ConnectionError]
    assert broker.batches == [[{"key": "a"}]]


@pytest.mark.asyncio
async def test_it_remembers_the_telemetry_it_published_for_a_while(monkeypatch):
    """What the consumer asks before publishing a resend again (REPUBLISH_AFTER_S; after that a lost
    message goes out again). Telemetry the broker refused is not remembered."""
    from uxlab.live import rating_batches

    broker = Broker()
    batcher = make_batcher(broker)
    await batcher.submit({"key": "t"}, telemetry=True, size=10)
    assert batcher.published_recently("t") and not batcher.published_recently("other")
    broker.telemetry_error = ConnectionError("broker down")
    with pytest.raises(ConnectionError):
        await batcher.submit({"key": "refused"}, telemetry=True, size=10)
    assert not batcher.published_recently("refused")
    monkeypatch.setattr(rating_batches, "REPUBLISH_AFTER_S", 0.0)
    assert not batcher.published_recently("t")


@pytest.mark.asyncio
async def test_it_publishes_a_full_batch_without_waiting_for_the_window():
    broker = Broker()
    batcher = make_batcher(broker, max_wait_s=30, max_size=3)
    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(batcher.submit({"key": n}) for n in range(3))), timeout=5)
    assert time.monotonic() - started < 1
    assert broker.batches == [[{"key": 0}, {"key": 1}, {"key": 2}]]


@pytest.mark.asyncio
async def test_it_fails_every_answer_of_a_batch_the_broker_refused():
    broker = Broker()
    broker.error = ConnectionError("broker down")
    batcher = make_batcher(broker)
    results = await asyncio.gather(*(batcher.submit({"key": n}) for n in range(3)), return_exceptions=True)
    assert [type(result) for result in results] == [ConnectionError] * 3


@pytest.mark.asyncio
async def test_it_keeps_the_event_loop_running_while_the_broker_hangs_and_skips_abandoned_answers():
    broker = Broker()
    broker.release.clear()
    batcher = make_batcher(broker)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(batcher.submit({"key": "hung"}), timeout=0.1)
    abandoned = batcher.submit({"key": "abandoned"})
    abandoned.cancel()  # its caller gave up before the batch left
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 10
    broker.release.set()
    await asyncio.wait_for(batcher.submit({"key": "later"}), timeout=5)
    published = [payload for batch in broker.batches for payload in batch]
    assert {"key": "later"} in published and {"key": "abandoned"} not in published


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_stores_and_confirms_an_answer_in_process_on_the_embedded_default(participant, settings):
    """No broker (the one-command demo): the batch's task runs in the publishing thread and its
    confirmation finds the web process's own event loop and in-memory channel layer."""
    import uuid

    from channels.testing import WebsocketCommunicator

    from channels.db import database_sync_to_async

    from tests.conftest import mark_trials_shown
    from uxlab.asgi import application
    from uxlab.celery import app as celery_app
    from uxlab.studies.models import Rating

    await database_sync_to_async(mark_trials_shown)(participant)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    celery_app.conf.task_always_eager = True
    try:
        communicator = WebsocketCommunicator(
            application, f"/ws/p/{participant.token}/", headers=[(b"origin", b"http://127.0.0.1")]
        )
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_json_from())["type"] == "hello"
        key = str(uuid.uuid4())
        await communicator.send_json_to(
            {"type": "rating.submit", "key": key, "trial": 0, "question": "faster", "value": "B", "response_ms": 7}
        )
        frame = await communicator.receive_json_from(timeout=10)
        while frame["type"] != "rating.stored":
            frame = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
    finally:
        celery_app.conf.task_always_eager = False
    assert frame == {"type": "rating.stored", "key": key}
    assert await Rating.objects.filter(key=key, value="B").aexists()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_resent_telemetry_batch_stored_between_two_pages_is_confirmed_not_published_again(
    participant, settings, monkeypatch
):
    """The next trial's page resends the telemetry of the one before as its socket opens. If it was
    stored while no socket was open, its confirmation reached nobody: the resend is answered with
    `telemetry.stored` at once, and not published a second time."""
    import uuid

    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from tests.conftest import mark_trials_shown
    from uxlab.asgi import application
    from uxlab.celery import app as celery_app
    from uxlab.studies import actions
    from uxlab.studies.models import TrialTelemetry

    await database_sync_to_async(mark_trials_shown)(participant)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    celery_app.conf.task_always_eager = True
    published = []
    enqueue_telemetry = actions.enqueue_telemetry
    monkeypatch.setattr(actions, "enqueue_telemetry", lambda payloads: (published.append(payloads),
                                                                        enqueue_telemetry(payloads)))
    frame = {"type": "telemetry.submit", "key": str(uuid.uuid4()), "trial": 0, "frames": [],
             "clock": {"offset_ms": 0, "rtt_ms": 1, "rounds": 6}, "frame_ms": 16.7, "reconnects": 0}

    async def send_and_await_confirmation():
        communicator = WebsocketCommunicator(
            application, f"/ws/p/{participant.token}/", headers=[(b"origin", b"http://127.0.0.1")]
        )
        connected, _ = await communicator.connect()
        assert connected and (await communicator.receive_json_from())["type"] == "hello"
        await communicator.send_json_to(frame)
        reply = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return reply

    try:
        first = await send_and_await_confirmation()
        again = await send_and_await_confirmation()
    finally:
        celery_app.conf.task_always_eager = False
    assert first == again == {"type": "telemetry.stored", "key": frame["key"]}
    assert len(published) == 1 and await TrialTelemetry.objects.filter(key=frame["key"]).acount() == 1
