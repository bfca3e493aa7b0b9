"""Live events to participants' open sockets, sent after the transaction that caused them commits.

Both "stored" confirmations (answers and telemetry) go through ``send_events_on_commit``. A lost
event only causes a harmless resend from the browser's outbox, so failures are logged, not raised.
"""

import asyncio
import logging
import os
import threading

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

SEND_CONCURRENCY = 8
SEND_TIMEOUT_S = 10
_channel_layer_loop = (None, None)  # (pid, event loop)


def send_event_on_commit(group_name, event):
    """Send one event to a channel-layer group once the current transaction commits."""
    send_events_on_commit([(group_name, event)])


def send_events_on_commit(events):
    """Send [(group_name, event)] once the current transaction commits (at once outside one)."""
    events = list(events)
    if events:
        transaction.on_commit(lambda: send_events(events))


def send_events(events):
    """Send [(group_name, event)] now, a few at a time over this process's warm connections."""

    async def send_all(layer):
        # A channel-layer message costs several Redis round trips; one connection per event would
        # exhaust the pool, so a few go at once.
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

    try:
        errors = run_on_channel_layer_loop(send_all(get_channel_layer()))
    except Exception:
        log.warning("could not send %d event(s) (%s)", len(events), events[0][1].get("type"), exc_info=True)
        return
    if errors:
        log.warning("could not send %d of %d event(s): %r", len(errors), len(events), errors[0])


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
