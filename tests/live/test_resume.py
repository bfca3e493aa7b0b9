"""Resuming a stream after a forced disconnect, on the same web process and on another one."""

import json

import pytest
from websockets.sync.client import connect

from tests.conftest import QUICK_STUDY_YAML, import_yaml
from uxlab.studies import actions
from uxlab.studies.models import Trial

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

SLOW_STUDY_YAML = QUICK_STUDY_YAML.replace("tokens_per_second: 60", "tokens_per_second: 25")


def socket_url(base_url, token):
    return f"{base_url.replace('http', 'ws', 1)}/ws/p/{token}/"


def receive(websocket, timeout=20):
    return json.loads(websocket.recv(timeout=timeout))


def stream_messages(websocket, stop_after=None):
    """Messages from stream.start on; stop after `stop_after` stream messages or at stream.end."""
    messages = []
    while True:
        message = receive(websocket)
        if message["type"] in {"stream.start", "stream.delta", "stream.done", "stream.end"}:
            messages.append(message)
        if message["type"] == "stream.end" or (stop_after and len(messages) > stop_after):
            return messages


def pane_text(messages, pane):
    return "".join(m["text"] for m in messages if m["type"] == "stream.delta" and m["pane"] == pane and m["phase"] == "answer")


@pytest.fixture
def slow_participant(team):
    study = import_yaml(SLOW_STUDY_YAML, team)
    return actions.give_consent(actions.enroll_participant(study))


@pytest.mark.parametrize("second_process", [False, True], ids=["same-process", "other-process"])
def test_it_resumes_after_the_last_sequence_number_with_the_same_t0(
    slow_participant, stack, second_process
):
    with connect(socket_url(stack.url, slow_participant.token), origin=stack.url) as websocket:
        assert receive(websocket)["type"] == "hello"
        websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
        first = stream_messages(websocket, stop_after=8)
    # The socket is gone mid-stream (closed without a goodbye from the page).
    stream_messages_start, *seen = first
    assert stream_messages_start["after_seq"] == 0 and len(seen) >= 8
    last_seq = seen[-1]["seq"]
    assert [m["seq"] for m in seen] == list(range(1, last_seq + 1))

    resume_url = stack.second_url if second_process else stack.url
    with connect(socket_url(resume_url, slow_participant.token), origin=resume_url) as websocket:
        assert receive(websocket)["type"] == "hello"
        websocket.send(json.dumps({"type": "trial.start", "trial": 0, "after_seq": last_seq}))
        rest = stream_messages(websocket)
        # Read while the socket is still open: the outcome is stored before stream.end goes out.
        status_at_end = Trial.objects.get(participant=slow_participant, index=0).status

    restart, *resumed = rest
    assert restart["type"] == "stream.start" and restart["after_seq"] == last_seq and restart["resumed"]
    assert restart["t0_ms"] == stream_messages_start["t0_ms"]
    assert [m["seq"] for m in resumed] == list(range(last_seq + 1, last_seq + 1 + len(resumed)))
    whole = seen + resumed
    response = slow_participant.study.prompts.get().response
    assert pane_text(whole, "A") == response and pane_text(whole, "B") == response
    # A socket closed right after stream.end (a tab closed at the end) cannot leave it streaming.
    assert status_at_end == Trial.Status.FINISHED
    trial = Trial.objects.get(participant=slow_participant, index=0)
    assert trial.resumes == 1 and trial.restarts == 0
    assert trial.status == Trial.Status.FINISHED and trial.server_timing["messages"] == len(resumed) - 1


def test_it_restarts_a_trial_reopened_without_a_resume_point(slow_participant, stack):
    with connect(socket_url(stack.url, slow_participant.token), origin=stack.url) as websocket:
        receive(websocket)
        websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
        first_start, *_ = stream_messages(websocket, stop_after=3)
    with connect(socket_url(stack.url, slow_participant.token), origin=stack.url) as websocket:
        receive(websocket)
        websocket.send(json.dumps({"type": "trial.start", "trial": 0}))
        second_start, *rest = stream_messages(websocket)
    assert second_start["restarted"] and second_start["after_seq"] == 0
    assert second_start["t0_ms"] > first_start["t0_ms"]
    assert rest[0]["seq"] == 1 and rest[-1]["type"] == "stream.end"
    assert Trial.objects.get(participant=slow_participant, index=0).restarts == 1
