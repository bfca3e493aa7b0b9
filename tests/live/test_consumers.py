"""The participant consumer through Channels' WebsocketCommunicator (real channel layer)."""

import json
import uuid

import pytest
from channels.testing import WebsocketCommunicator

from uxlab.asgi import application
from uxlab.studies.models import Prompt, Rating

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def connect(token):
    communicator = WebsocketCommunicator(application, f"/ws/p/{token}/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from()
    assert hello == {"type": "hello", "protocol": 1}
    return communicator


async def receive_until(communicator, message_type, timeout=10):
    received = []
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        received.append(message)
        if message["type"] == message_type:
            return received


async def test_it_streams_both_panes_in_order_until_both_finish(participant):
    communicator = await connect(participant.token)
    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    frames = await receive_until(communicator, "stream.end")
    await communicator.disconnect()

    assert frames[0]["type"] == "stream.start"
    sequence = [frame["seq"] for frame in frames]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)
    deltas = [frame for frame in frames if frame["type"] == "stream.delta"]
    assert {frame["pane"] for frame in frames if frame["type"] == "stream.done"} == {"A", "B"}
    response = (await Prompt.objects.aget(study_id=participant.study_id)).response
    for pane in "AB":
        answer = "".join(frame["text"] for frame in deltas if frame["pane"] == pane and frame["phase"] == "answer")
        assert answer == response
        due = [frame["due_ms"] for frame in deltas if frame["pane"] == pane]
        assert due == sorted(due)
    # The slow arm's hidden thinking phase shows only as an empty marker, never as token counts.
    thinking = [frame for frame in deltas if frame["phase"] == "thinking"]
    assert len(thinking) == 1 and thinking[0]["text"] == ""


async def test_it_never_sends_arm_names_or_parameters(participant):
    communicator = await connect(participant.token)
    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    frames = await receive_until(communicator, "stream.end")
    await communicator.disconnect()
    wire = json.dumps(frames)
    for secret in ["fast_arm", "slow_arm", "Fast secret backend", "Slow secret backend", "tokens_per_second", "ttft"]:
        assert secret not in wire


@pytest.mark.parametrize(
    "frame, code",
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_message"),
        ('{"type": "launch.missiles"}', "unknown_type"),
        ('{"type": "trial.start", "trial": -1}', "bad_message"),
        ('{"type": "trial.start", "trial": 99}', "unknown_trial"),
        ('{"type": "rating.submit", "key": "nope", "trial": 0, "question": "faster", "value": "A", "response_ms": 5}', "bad_message"),
        ('{"type": "ping", "t": 1, "padding": "' + "x" * 20_000 + '"}', "too_large"),
        ("x" * 1_100_000, "too_large"),
    ],
)
async def test_it_answers_a_bad_frame_with_an_error_and_stays_usable(participant, frame, code):
    communicator = await connect(participant.token)
    await communicator.send_to(text_data=frame)
    error = await communicator.receive_json_from()
    assert error["type"] == "error" and error["code"] == code and error["message"]
    await communicator.send_json_to({"type": "ping", "t": 1.5})
    pong = await communicator.receive_json_from()
    assert pong["type"] == "pong" and pong["t"] == 1.5
    await communicator.disconnect()


@pytest.mark.parametrize(
    "change, code",
    [
        ({"trial": 7}, "unknown_trial"),
        ({"question": "nicer"}, "unknown_question"),
        ({"value": "C"}, "bad_value"),
    ],
)
async def test_it_rejects_an_answer_that_does_not_fit_the_session(participant, change, code):
    communicator = await connect(participant.token)
    key = str(uuid.uuid4())
    message = {"type": "rating.submit", "key": key, "trial": 0, "question": "faster", "value": "A", "response_ms": 5}
    await communicator.send_json_to({**message, **change})
    error = await communicator.receive_json_from()
    await communicator.disconnect()
    assert error == {"type": "error", "code": code, "message": error["message"], "ref": key}
    assert not await Rating.objects.filter(key=key).aexists()


async def test_it_refuses_an_unknown_participant_token(db):
    communicator = WebsocketCommunicator(application, "/ws/p/not-a-token/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, code = await communicator.connect()
    assert not connected and code == 4404
    # As a server does after a refused handshake: the consumer ends now, not when the test's event
    # loop cancels whatever is left (a full run once hung there, in the loop's teardown).
    await communicator.disconnect()


async def test_it_stores_the_trial_as_finished_before_the_browser_sees_the_end(participant):
    from uxlab.studies.models import Trial

    communicator = await connect(participant.token)
    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    await receive_until(communicator, "stream.end")
    trial = await Trial.objects.aget(participant=participant, index=0)
    await communicator.disconnect()

    assert trial.status == Trial.Status.FINISHED and trial.finished_at is not None
    assert trial.server_timing["messages"] > 0


async def test_it_finishes_a_trial_whose_socket_closes_as_the_last_pane_ends(participant):
    """A tab closed the moment both panes are done (before the end frame is read) leaves no trial
    streaming: the whole stream was sent, so the trial is finished."""
    from uxlab.studies.models import Trial

    communicator = await connect(participant.token)
    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    done = 0
    while done < 2:
        done += (await communicator.receive_json_from(timeout=10))["type"] == "stream.done"
    await communicator.disconnect()

    trial = await Trial.objects.aget(participant=participant, index=0)
    assert trial.status == Trial.Status.FINISHED and trial.finished_at is not None


async def test_it_refuses_an_answer_to_a_question_asked_once_on_a_later_trial(team):
    from asgiref.sync import sync_to_async

    from tests.conftest import import_yaml
    from tests.studies.test_once_questions import SCREENER_YAML
    from uxlab.studies import actions

    def enrolled():
        study = import_yaml(SCREENER_YAML, team)
        return actions.give_consent(actions.enroll_participant(study))

    participant = await sync_to_async(enrolled)()
    communicator = await connect(participant.token)
    key = str(uuid.uuid4())
    await communicator.send_json_to({"type": "rating.submit", "key": key, "trial": 1, "question": "ai_use",
                                     "value": "2", "response_ms": 5})
    error = await communicator.receive_json_from()
    await communicator.disconnect()
    assert error == {"type": "error", "code": "question_not_asked", "message": error["message"], "ref": key}
    assert "first trial" in error["message"] and not await Rating.objects.filter(key=key).aexists()
