"""Where a live trial's messages are kept while it runs, so a reconnect to any web process resumes.

With Redis configured the buffer is a Redis list per trial (expiring an hour after its last
write); on the embedded default it is a dict in this process, which is all one process needs.
Messages are stored in sequence order: message `seq` is at index `seq - 1`.
"""

import asyncio

from django.conf import settings

BUFFER_TTL_S = 3600
_memory: dict[str, list[str]] = {}


def buffer_key(trial_id, t0):
    return f"uxlab:live:{trial_id}:{t0:.6f}"


class StreamBuffer:
    def __init__(self):
        self.redis = None
        if settings.REDIS_URL:
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(settings.REDIS_URL, **settings.REDIS_ASYNC_OPTIONS)

    async def open(self, key):
        """Mark the buffer as started before its first message (a backend may take seconds to
        answer), so a reconnect in between follows it instead of finding nothing there."""
        if self.redis is None:
            _memory.setdefault(key, [])
            return
        await self.redis.set(f"{key}:open", 1, ex=BUFFER_TTL_S)

    async def append(self, key, message):
        if self.redis is None:
            _memory.setdefault(key, []).append(message)
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(key, message)
            pipe.expire(key, BUFFER_TTL_S)
            await pipe.execute()

    async def read(self, key, after_seq):
        """Messages with seq > after_seq (strings), in order; [] when there are none yet."""
        if self.redis is None:
            return list(_memory.get(key, [])[after_seq:])
        return [item.decode() for item in await self.redis.lrange(key, after_seq, -1)]

    async def exists(self, key):
        if self.redis is None:
            return key in _memory
        return bool(await self.redis.exists(key, f"{key}:open"))

    async def close(self):
        if self.redis is not None:
            await self.redis.aclose()


# Live producers keep running when their socket goes away (a reconnect tails the buffer);
# holding them here keeps them from being garbage-collected mid-stream.
running_producers: set[asyncio.Task] = set()
