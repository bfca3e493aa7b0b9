"""Live events to participants' open sockets, sent after the transaction that caused them commits.

Both "stored" confirmations (answers and telemetry) go through ``send_events_on_commit``. A lost
event only causes a harmless resend from the browser's outbox, so failures are logged, not raised.

On the Redis channel layer a batch of events costs two Redis round trips, however many sockets it
reaches: one pipeline reads every group's sockets, and one script call leaves one message per web
process, holding each of its sockets' events (type ``events.batch``; the consumer hands each socket
its own). channels-redis delivers a message naming several of a process's channels to each of them,
as its own group_send does. One group_send per event cost four round trips in the worker and four
more per socket in the web process, which capped confirmations near 1,000 answers/s.
"""

import asyncio
import logging
import os
import threading
import time
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

BATCH_TYPE = "events.batch"
SEND_CONCURRENCY = 8
# One message per key (a web process's channel): added where the channel is under capacity, and
# the key given the layer's expiry, as channels-redis's own group_send script does.
SEND_SCRIPT = """
local count = #KEYS
local now = tonumber(ARGV[2 * count + 1])
local expiry = tonumber(ARGV[2 * count + 2])
local over_capacity = 0
for i = 1, count do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, now - expiry)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[count + i]) then
        redis.call('ZADD', KEYS[i], now, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""
SEND_TIMEOUT_S = 10
_channel_layer_loop = (None, None)  # (pid, event loop)
_gathered = threading.local()  # .events: what sent_together holds back, in this thread


def send_event_on_commit(group_name, event):
    """Send one event to a channel-layer group once the current transaction commits."""
    send_events_on_commit([(group_name, event)])


def send_events_on_commit(events):
    """Send [(group_name, event)] once the current transaction commits (at once outside one)."""
    events = list(events)
    if events:
        transaction.on_commit(lambda: send_events(events))


@contextmanager
def sent_together():
    """Events sent in this block (once their transactions commit) go out together when it ends: a
    task storing several items, each in its own transaction, confirms them in one send instead of
    one each (each send costs Redis round trips)."""
    if getattr(_gathered, "events", None) is not None:
        yield  # within another such block: that one sends them
        return
    _gathered.events = []
    try:
        yield
    finally:
        events, _gathered.events = _gathered.events, None
        if events:
            send_events(events)


def send_events(events):
    """Send [(group_name, event)] now, over this process's warm connections (or, in a
    sent_together block, when it ends)."""
    held_back = getattr(_gathered, "events", None)
    if held_back is not None:
        held_back.extend(events)
        return
    try:
        errors = run_on_channel_layer_loop(send_to_groups(get_channel_layer(), events))
    except Exception:
        log.warning("could not send %d event(s) (%s)", len(events), events[0][1].get("type"), exc_info=True)
        return
    if errors:
        log.warning("could not send %d of %d event(s): %r", len(errors), len(events), errors[0])


async def send_to_groups(layer, events):
    """Deliver each (group, event) to the group's sockets; returns the errors it swallowed."""
    if isinstance(layer, RedisChannelLayer):
        try:
            await send_batch(layer, events)
        except Exception as error:
            return [error]
        return []
    # Other layers (the embedded default's in-memory one): a group_send per event, a few at a time.
    limit = asyncio.Semaphore(SEND_CONCURRENCY)

    async def send(group, event):
        async with limit:
            try:
                await layer.group_send(group, event)
            except ChannelFull:
                # A socket that does not read its confirmations (a flood, a stuck page): its
                # browser resends and is confirmed then. Nothing to report.
                return

    results = await asyncio.gather(*(send(group, event) for group, event in events), return_exceptions=True)
    return [result for result in results if isinstance(result, BaseException)]


async def send_batch(layer, events):
    """The Redis layer's batch: every group's sockets in one pipeline per Redis server, then one
    message per web process (its sockets' events) in one script call per server."""
    now = time.time()
    groups_by_server = {}
    for group in {group for group, _event in events}:
        groups_by_server.setdefault(layer.consistent_hash(group), []).append(group)
    sockets = {}
    for index, groups in groups_by_server.items():
        pipe = layer.connection(index).pipeline(transaction=False)
        for group in groups:
            pipe.zremrangebyscore(layer._group_key(group), min=0, max=int(now) - layer.group_expiry)
            pipe.zrange(layer._group_key(group), 0, -1)
        replies = await pipe.execute()
        for group, channels in zip(groups, replies[1::2]):
            sockets[group] = [channel.decode() for channel in channels]
    by_process = {}  # a process's channel prefix ("specific.<id>!") -> {channel: [events]}
    for group, event in events:
        for channel in sockets.get(group, ()):
            by_process.setdefault(layer.non_local_name(channel), {}).setdefault(channel, []).append(event)
    messages_by_server = {}
    for process, by_channel in by_process.items():
        message = {"type": BATCH_TYPE, "events": by_channel, "__asgi_channel__": list(by_channel)}
        messages_by_server.setdefault(layer.consistent_hash(process), []).append(
            (layer.prefix + process, layer.serialize(message), layer.get_capacity(process))
        )
    for index, messages in messages_by_server.items():
        keys, payloads, capacities = zip(*messages)
        over = await layer.connection(index).eval(
            SEND_SCRIPT, len(keys), *keys, *payloads, *capacities, now, layer.expiry
        )
        if over:
            log.info("%d of %d web processes' channels were over capacity", over, len(keys))


def run_on_channel_layer_loop(coroutine):
    """Run a coroutine on this worker process's own event loop, kept running in a thread, so the
    channel layer's Redis connections are reused batch after batch (async_to_sync would start a new
    loop, and so new connections, on every call). Where tasks run inside the web process (the
    embedded default) the web process's own loop is used, as async_to_sync finds it."""
    global _channel_layer_loop
    if settings.CELERY_TASK_ALWAYS_EAGER:

        async def await_it():
            return await coroutine

        return async_to_sync(await_it)()
    pid, loop = _channel_layer_loop
    if pid != os.getpid() or loop is None or not loop.is_running():  # new after a fork
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="channel-layer", daemon=True).start()
        _channel_layer_loop = (os.getpid(), loop)
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=SEND_TIMEOUT_S)
