"""The researcher's live monitor socket: access through the helper, updates within a second, pause/resume."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from uxlab.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_monitor(study, user):
    headers = [(b"origin", b"http://127.0.0.1")]
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/studies/{study.code}/monitor/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_it_refuses_outsiders_and_anonymous_sockets(study, charlie):
    for user in (charlie, None):
        communicator, connected, code = await open_monitor(study, user)
        assert not connected and code == 4404
        await communicator.disconnect()


async def test_it_shows_a_new_participant_within_a_second(study, bob):
    from uxlab.studies import actions

    communicator, connected, _ = await open_monitor(study, bob)
    assert connected
    first = await communicator.receive_json_from(timeout=5)
    assert first["type"] == "monitor.snapshot" and first["participants"]["welcome"] == 0
    assert first["status"] == "live" and first["conflicts"] == 0
    assert [(row["pair"], row["prompt"]) for row in first["quota"]] == [("fast_arm|slow_arm", "greeting")]
    started = time.monotonic()
    await sync_to_async(actions.enroll_participant)(study)
    update = await communicator.receive_json_from(timeout=1)
    assert time.monotonic() - started < 1.0
    assert update["participants"]["welcome"] == 1
    await communicator.disconnect()


async def test_it_is_read_only_even_for_the_owner(study, alice):
    """Pausing is the monitor page's form post (tests/web/test_monitor_page.py), not a socket frame."""
    owner, connected, _ = await open_monitor(study, alice)
    assert connected
    await owner.receive_json_from(timeout=5)
    for frame in ('{"type": "study.pause"}', "nonsense", "x" * 100_000):
        await owner.send_to(text_data=frame)
        assert (await owner.receive_json_from(timeout=1))["code"] == "read_only"
    await study.arefresh_from_db()
    assert study.status == "live"
    await owner.disconnect()
    await asyncio.sleep(0)
