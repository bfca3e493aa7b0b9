"""Handing work to the workers (studies/queue.py), read back from the real broker: what a batch of
answers or telemetry looks like on the queue."""

import base64
import json
import uuid

import pytest
import redis
from django.conf import settings

from uxlab.celery import app
from uxlab.studies import actions, queue


def published(marker):
    """The message on the broker (any priority's list) whose body holds ``marker``, taken off it."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    default = app.conf.task_default_queue
    for key in [default.encode()] + sorted(client.keys(f"{default}\x06\x16*")):
        for raw in client.lrange(key, 0, -1):
            message = json.loads(raw)
            body = base64.b64decode(message["body"])
            if marker.encode() in body:
                client.lrem(key, 1, raw)
                return key, message, json.loads(body)
    raise AssertionError(f"no message holds {marker}")


@pytest.fixture
def broker():
    if app.conf.task_always_eager:
        pytest.fail("these tests need the Redis broker (CELERY_BROKER_URL)")


def answer(marker):
    return {"key": marker, "participant_id": 1, "group_name": "participant.1", "trial_id": 2, "question_id": 3,
            "value": "A", "response_ms": 900, "received_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip


def test_it_publishes_a_batch_of_answers_at_the_default_priority_with_a_short_argsrepr(broker):
    marker = str(uuid.uuid4())
    answers = [answer(marker), answer(str(uuid.uuid4()))]
    actions.enqueue_ratings(answers)
    key, message, body = published(marker)
    assert key == app.conf.task_default_queue.encode()
    assert message["headers"]["task"] == queue.STORE_RATINGS
    assert body[:2] == [[answers], {}]
    # What monitoring shows instead of a repr of every answer.
    assert message["headers"]["argsrepr"] == "[<2 answer(s)>]" and message["headers"]["kwargsrepr"] == "{}"


def test_it_publishes_telemetry_at_low_priority_with_a_short_argsrepr(broker):
    marker = str(uuid.uuid4())
    telemetry = [{"key": marker, "trial_id": 2, "telemetry": {"frames": [[1, 2.5, 3.5]]}}]
    actions.enqueue_telemetry(telemetry)
    key, message, body = published(marker)
    assert message["properties"]["priority"] == queue.LOW_PRIORITY
    assert key != app.conf.task_default_queue.encode()  # kombu's list for a lower priority
    assert message["headers"]["task"] == queue.STORE_TELEMETRY_BATCH
    assert body[:2] == [[telemetry], {}]
    assert message["headers"]["argsrepr"] == "[<telemetry of 1 trial(s)>]"


def test_it_keeps_celerys_own_argsrepr_for_other_tasks(broker):
    marker = str(uuid.uuid4())
    queue.enqueue(queue.STORE_TELEMETRY, {"key": marker}, priority=queue.LOW_PRIORITY)
    _key, message, body = published(marker)
    assert body[0] == [{"key": marker}]
    assert message["headers"]["argsrepr"] == repr([{"key": marker}])
