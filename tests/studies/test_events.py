"""Batched live events on the real Redis channel layer: one message per web process per batch."""

import asyncio
import uuid

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from uxlab.studies.events import BATCH_TYPE, send_to_groups

pytestmark = pytest.mark.asyncio


async def test_it_sends_one_message_per_process_holding_each_sockets_own_events():
    # The same layer (one prefix) as seen by two web processes and a worker.
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    web_1, web_2, worker = (RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix) for _ in range(3))
    alice_tab, bob_tab = await web_1.new_channel(), await web_1.new_channel()
    carol_tab = await web_2.new_channel()
    for layer, group, channel in [(web_1, "p-alice", alice_tab), (web_1, "p-bob", bob_tab), (web_2, "p-carol", carol_tab)]:
        await layer.group_add(group, channel)
    events = [
        ("p-alice", {"type": "rating.stored", "key": "a1", "keys": ["a1", "a2"]}),
        ("p-bob", {"type": "rating.stored", "key": "b1", "keys": ["b1"]}),
        ("p-carol", {"type": "telemetry.stored", "key": "c1"}),
        ("p-alice", {"type": "telemetry.stored", "key": "a3"}),
        ("p-nobody", {"type": "rating.stored", "key": "n1", "keys": ["n1"]}),
    ]
    try:
        assert await send_to_groups(worker, events) == []
        redis = worker.connection(0)
        # One message waiting per web process, not one per event or socket.
        assert await redis.zcard(web_1.prefix + web_1.non_local_name(alice_tab)) == 1
        assert await redis.zcard(web_2.prefix + web_2.non_local_name(carol_tab)) == 1

        received = {}
        for layer, channel in [(web_1, alice_tab), (web_1, bob_tab), (web_2, carol_tab)]:
            message = await asyncio.wait_for(layer.receive(channel), 5)
            assert message["type"] == BATCH_TYPE
            received[channel] = message["events"][channel]
        assert received[alice_tab] == [events[0][1], events[3][1]]
        assert received[bob_tab] == [events[1][1]]
        assert received[carol_tab] == [events[2][1]]
        # Bob's process got one message for both of its sockets, and nothing else is waiting.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(web_1.receive(bob_tab), 0.3)
    finally:
        for layer in (web_1, web_2, worker):
            await layer.flush()
            await layer.close_pools()


async def test_it_falls_back_to_a_group_send_per_event_on_other_layers():
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("p-alice", channel)
    event = {"type": "rating.stored", "key": "a1", "keys": ["a1"]}

    assert await send_to_groups(layer, [("p-alice", event)]) == []
    assert await asyncio.wait_for(layer.receive(channel), 1) == event
