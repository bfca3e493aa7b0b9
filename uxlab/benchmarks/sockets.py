"""The benchmark clients' websocket receive with a time limit.

Under asyncio.timeout rather than asyncio.wait_for: on Python 3.11, wait_for loses a cancellation
that arrives as the awaited receive completes (CPython issue 86296, fixed in 3.12), so a cancelled
client could carry on with the message as if never cancelled (uxlab/live/redis_connection.py moved
the server's Redis clients off it for the same reason).
"""

import asyncio


async def recv_within(socket, seconds):
    """The socket's next message; TimeoutError if none came within `seconds`."""
    async with asyncio.timeout(seconds):
        return await socket.recv()
