"""The web processes' Redis clients let a cancelled task end (uxlab/live/redis_connection.py): with a
socket timeout, redis-py sends under asyncio.wait_for, which on Python 3.11 can lose the
cancellation (CPython issue 86296), and a closed socket's channel-layer receive then polled Redis
for ever. Each round cancels a task at a random moment of its work, as a closing socket does."""

import asyncio
import random

import pytest
import redis.asyncio
from channels_redis.core import RedisChannelLayer
from django.conf import settings

pytestmark = pytest.mark.asyncio

assert settings.REDIS_URL, "run the suite with `make test` (REDIS_URL is needed)"

ROUNDS = 300  # with the old 15 s socket timeout the channel layer's receive stuck within a few rounds


def moments(seed):
    """When to cancel: at once, or a little into the work (connecting, sending, waiting)."""
    rng = random.Random(seed)
    return [rng.choice([0, 0, 0.0005, 0.001, 0.002, 0.005, rng.random() * 0.02]) for _ in range(ROUNDS)]


async def stuck_after_cancel(start_work, seed):
    """The rounds whose task was still running a second after it was cancelled (the first three:
    a failing run ends soon)."""
    stuck = []
    for number, delay in enumerate(moments(seed)):
        if len(stuck) == 3:
            break
        task = asyncio.ensure_future(start_work())
        await asyncio.sleep(delay)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=1)
        if not done:
            stuck.append(number)
            task.cancel()  # once more, to leave nothing running
            await asyncio.wait([task], timeout=1)
    return stuck


async def test_a_cancelled_channel_layer_receive_ends():
    layer = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    try:
        async def receive():
            return await layer.receive(await layer.new_channel())

        assert await stuck_after_cancel(receive, seed=1) == []
    finally:
        await layer.close_pools()


async def test_a_cancelled_task_busy_with_the_socket_registrys_client_ends():
    client = redis.asyncio.Redis.from_url(settings.REDIS_URL, **settings.REDIS_ASYNC_OPTIONS)
    try:
        async def busy():
            while True:  # as a socket's task between its Redis calls: only a cancellation ends it
                await client.set("uxlab:test:cancel", 1, ex=5)
                await client.get("uxlab:test:cancel")

        assert await stuck_after_cancel(busy, seed=2) == []
    finally:
        await client.aclose()


@pytest.mark.services
async def test_a_command_to_a_redis_that_stopped_answering_fails_within_the_timeout(tmp_path):
    """A paused Redis (SIGSTOP: the kernel still accepts and acknowledges) fails a command after
    the socket timeout rather than hanging it; cancelling one waiting on it still ends it."""
    import os
    import signal
    import time

    import redis.exceptions

    from uxlab.benchmarks.processes import redis_server

    server = redis_server(tmp_path / "redis.log")
    server.start()
    client = redis.asyncio.Redis.from_url(server.url, **{**settings.REDIS_ASYNC_OPTIONS, "socket_timeout": 1})
    try:
        assert await client.set("k", "v")
        os.kill(server.process.pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            await client.get("k")
        assert time.monotonic() - started < 10  # one second a try, and redis-py's few retries
        waiting = asyncio.ensure_future(client.get("k"))
        await asyncio.sleep(0.2)
        waiting.cancel()
        done, _ = await asyncio.wait([waiting], timeout=1)
        assert done and waiting.cancelled()
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        await client.aclose()
        server.stop()
