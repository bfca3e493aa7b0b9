"""The connection class of the web processes' asyncio Redis clients (settings.REDIS_ASYNC_OPTIONS:
the channel layer, the socket registry, the stream relay, the in-flight slots).

redis-py sends a command under asyncio.wait_for when the connection has a socket timeout, and on
Python 3.11 wait_for loses a cancellation that arrives as the send completes (CPython issue 86296,
fixed in 3.12). A closed socket's task then carried on as if never cancelled: its channel-layer
receive polled Redis every 5 s for ever, holding a connection (tests/live/test_redis_connection.py).
This class sends under asyncio.timeout instead, which keeps the cancellation, and keeps the socket
timeout for everything else (reads use asyncio.timeout already), so a Redis that stops answering
still fails a command within the timeout rather than hanging it.
"""

import asyncio

from redis.asyncio.connection import Connection
from redis.exceptions import TimeoutError as RedisTimeoutError


class CancellableConnection(Connection):
    async def send_packed_command(self, command, check_health=True):
        timeout = self.socket_timeout
        if not timeout:
            return await super().send_packed_command(command, check_health)
        # Without a socket timeout the library writes without wait_for; the timeout is ours.
        self.socket_timeout = None
        try:
            async with asyncio.timeout(timeout):
                return await super().send_packed_command(command, check_health)
        except TimeoutError:  # asyncio's, when the send took too long (redis-py's is another class)
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = timeout
