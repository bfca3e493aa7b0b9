"""The rating path on real processes: uvicorn → Redis → Celery worker → Postgres → rating.stored."""

import json
import time
import uuid

import pytest
from websockets.sync.client import connect

from tests.conftest import QUICK_STUDY_YAML, import_yaml, mark_trials_shown
from uxlab.studies import actions
from uxlab.studies.models import Rating

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def socket_url(base_url, token):
    return f"{base_url.replace('http', 'ws', 1)}/ws/p/{token}/"


def receive_until(websocket, predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(websocket.recv(timeout=max(0.01, deadline - time.monotonic())))
        if predicate(message):
            return message


def test_it_stores_a_rating_sent_three_times_exactly_once(stack, team):
    study = import_yaml(QUICK_STUDY_YAML, team)
    participant = mark_trials_shown(actions.give_consent(actions.enroll_participant(study)))
    key = str(uuid.uuid4())
    rating = {"type": "rating.submit", "key": key, "trial": 0, "question": "faster", "value": "B", "response_ms": 812}

    stored_confirmations = 0
    for attempt in range(3):
        # A fresh socket each time, as after a reconnect: the browser resends what is unconfirmed.
        with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
            receive_until(websocket, lambda message: message["type"] == "hello")
            websocket.send(json.dumps(rating))
            confirmation = receive_until(websocket, lambda message: message["type"] in {"rating.stored", "error"})
            assert confirmation == {"type": "rating.stored", "key": key}
            stored_confirmations += 1

    assert stored_confirmations == 3
    stored = Rating.objects.get(key=key)
    assert (stored.value, stored.response_ms, stored.trial.index) == ("B", 812, 0)
    assert Rating.objects.filter(participant=participant).count() == 1


def test_it_sends_three_copies_on_one_socket_and_stores_one(stack, team):
    study = import_yaml(QUICK_STUDY_YAML, team)
    participant = mark_trials_shown(actions.give_consent(actions.enroll_participant(study)))
    key = str(uuid.uuid4())
    rating = {"type": "rating.submit", "key": key, "trial": 0, "question": "faster", "value": "A", "response_ms": 90}

    with connect(socket_url(stack.url, participant.token), origin=stack.url) as websocket:
        receive_until(websocket, lambda message: message["type"] == "hello")
        for _ in range(3):
            websocket.send(json.dumps(rating))
        for _ in range(3):
            assert receive_until(websocket, lambda message: message["type"] == "rating.stored") == {
                "type": "rating.stored",
                "key": key,
            }

    assert Rating.objects.filter(key=key).count() == 1
    assert Rating.objects.filter(participant=participant).count() == 1
