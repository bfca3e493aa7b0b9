"""A withdrawn participant's sockets: refused at connect, and an open one (even mid-stream) told and
closed as soon as the withdrawal commits, with nothing of the trial written back afterwards."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from tests.live.test_hostile_socket import ORIGIN, assert_refused_and_closed, connect_in_process, rating
from uxlab.asgi import application
from uxlab.live.protocol import parse_client_frame
from uxlab.studies import actions, tasks
from uxlab.studies.models import FailedTask, Participant, Rating, Trial

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

withdraw = database_sync_to_async(actions.withdraw_participant)


async def test_it_refuses_a_socket_of_a_withdrawn_participant(participant):
    await withdraw(participant, Participant.WithdrawnBy.PARTICIPANT)
    communicator = WebsocketCommunicator(application, f"/ws/p/{participant.token}/", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    await assert_refused_and_closed(communicator, "session_withdrawn", 4410)


async def test_it_closes_an_open_socket_mid_stream_when_the_participant_is_withdrawn(participant):
    communicator = await connect_in_process(participant.token)
    await communicator.send_json_to({"type": "trial.start", "trial": 0})
    assert (await communicator.receive_json_from(timeout=10))["type"] == "stream.start"

    await withdraw(participant, Participant.WithdrawnBy.RESEARCHER)

    while True:  # stream frames already on their way, then the refusal and the close
        frame = await communicator.receive_json_from(timeout=10)
        if frame["type"] == "error":
            break
        assert frame["type"].startswith("stream.")
    assert frame["code"] == "session_withdrawn" and "withdrawn" in frame["message"]
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4410}
    await communicator.disconnect()  # the consumer's disconnect writes nothing back for the gone trial
    assert not await Trial.objects.filter(participant_id=participant.pk).aexists()
    assert (await Participant.objects.aget(pk=participant.pk)).status == Participant.Status.WITHDRAWN


async def test_an_answer_queued_before_the_withdrawal_is_not_kept(participant):
    """The worker meets the answer after the trial is gone: it is dropped, not retried or dead-lettered."""
    context = await database_sync_to_async(actions.load_participant_context)(participant.token)
    context.learn_started(0, 0.0)
    context.learn_finished(0)
    text = json.dumps(rating(0))
    payload = actions.check_rating(context, parse_client_frame(text, len(text)), timezone.now())
    await withdraw(participant, Participant.WithdrawnBy.PARTICIPANT)
    summary = await database_sync_to_async(lambda: tasks.store_ratings.apply(args=[[payload]]).get())()
    assert summary == {"withdrawn": 1}
    assert not await Rating.objects.filter(participant_id=participant.pk).aexists()
    assert not await FailedTask.objects.aexists()
