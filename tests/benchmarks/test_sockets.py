"""The benchmark clients' receive with a time limit (uxlab/benchmarks/sockets.py)."""

import asyncio

import pytest

from uxlab.benchmarks.sockets import recv_within

pytestmark = pytest.mark.asyncio


class Socket:
    """recv() returns a future the test resolves."""

    def __init__(self):
        self.message = asyncio.get_running_loop().create_future()

    def recv(self):
        return self.message


async def test_it_returns_the_message_or_raises_timeout_error():
    socket = Socket()
    socket.message.set_result("hello")
    assert await recv_within(socket, 1) == "hello"

    with pytest.raises(TimeoutError):
        await recv_within(Socket(), 0.01)


async def test_a_cancellation_that_arrives_as_the_message_does_is_kept():
    # CPython issue 86296: asyncio.wait_for on 3.11 returns the message here instead.
    socket = Socket()
    task = asyncio.create_task(recv_within(socket, 10))
    await asyncio.sleep(0)  # the task is waiting for the message
    socket.message.set_result("late")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
