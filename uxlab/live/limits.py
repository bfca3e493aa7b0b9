"""Per-participant limits of the participant websocket (docs/reliability.md, "Websocket limits").

- `FrameBudget`: a token bucket, checked before a frame is parsed, so a flood costs the server
  almost nothing and never reaches the database. Each participant has two per web process, one
  counting frames and one counting bytes (`participant_budget`), shared by their sockets and kept
  for a while after the last one closes, so neither a second socket nor a reconnect starts afresh.
- `open_socket` / `close_socket`: how many sockets a participant holds open across web processes.
  With Redis each participant has a sorted set of its sockets' channel names scored by when the
  entry lapses; a process refreshes its own entries while they are open, so the sockets of a
  process that died drop out within SOCKET_TTL_S. Without Redis (the embedded default: one web
  process) the count is kept in this process.
"""

import asyncio
import logging
import time
import weakref

from django.conf import settings

from uxlab.live.protocol import MAX_TELEMETRY_BYTES

log = logging.getLogger(__name__)

SOCKET_TTL_S = 120.0
REFRESH_EVERY_S = SOCKET_TTL_S / 3


class FrameBudget:
    """`burst` frames at once, refilled at `per_s` frames a second."""

    def __init__(self, burst, per_s, clock=time.monotonic):
        self.burst = burst
        self.per_s = per_s
        self.clock = clock
        self.tokens = float(burst)
        self.at = clock()

    def take(self, amount=1):
        """Whether `amount` more (a frame, or a frame's bytes) may be handled now (and count it)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_s)
        self.at = now
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    @property
    def idle_s(self):
        return self.clock() - self.at


class ParticipantBudget:
    """A participant's frames and bytes in this web process (see the module docstring)."""

    def __init__(self):
        self.frames = FrameBudget(settings.UXLAB_WS_FRAME_BURST, settings.UXLAB_WS_FRAMES_PER_S)
        # Never less than one frame of the largest kind (a telemetry batch), or it could never pass.
        burst = max(settings.UXLAB_WS_BYTES_BURST, MAX_TELEMETRY_BYTES)
        self.bytes = FrameBudget(burst, settings.UXLAB_WS_BYTES_PER_S)


# A participant's budget outlives their sockets this long; by then it has refilled anyway.
BUDGET_KEPT_S = 120.0


def sockets_key(token):
    # By token, not primary key: ids start again in a new database, tokens never repeat.
    return f"uxlab:ws:sockets:{token}"


class SocketRegistry:
    """The open sockets of each participant (see the module docstring), for one event loop."""

    def __init__(self, redis_url):
        self.redis = None
        if redis_url:
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(redis_url, **settings.REDIS_ASYNC_OPTIONS)
        self.local = {}  # token -> this process's channel names
        self.refresher = None
        self.budgets = {}  # token -> ParticipantBudget

    def budget(self, token):
        """The participant's budget in this process (made on first use; idle ones are dropped)."""
        existing = self.budgets.get(token)
        if existing is None:
            for other, budget in list(self.budgets.items()):
                if other not in self.local and budget.frames.idle_s > BUDGET_KEPT_S:
                    del self.budgets[other]
            existing = self.budgets[token] = ParticipantBudget()
        return existing

    async def open(self, token, channel, limit):
        """Register a socket; False (and nothing registered) if the participant has `limit` already."""
        if self.redis is None:
            if len(self.local.get(token, ())) >= limit:
                return False
        else:
            try:
                if not await self.open_shared(token, channel, limit):
                    return False
            except Exception as error:  # Redis is down: the channel layer is too; do not lock people out
                log.warning("could not count the sockets of a participant (%r); allowing this one", error)
        self.local.setdefault(token, set()).add(channel)
        if self.redis is not None and (self.refresher is None or self.refresher.done()):
            self.refresher = asyncio.get_running_loop().create_task(self.refresh())
        return True

    async def open_shared(self, token, channel, limit):
        key, now = sockets_key(token), time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {channel: now + SOCKET_TTL_S})
            pipe.zcard(key)
            pipe.expire(key, int(SOCKET_TTL_S) + 1)
            _, _, count, _ = await pipe.execute()
        if count > limit:
            await self.redis.zrem(key, channel)
            return False
        return True

    async def close(self, token, channel):
        mine = self.local.get(token)
        if mine is None or channel not in mine:
            return
        mine.discard(channel)
        if not mine:
            del self.local[token]
        if self.redis is not None:
            try:
                await self.redis.zrem(sockets_key(token), channel)
            except Exception as error:  # it lapses by itself within SOCKET_TTL_S
                log.warning("could not unregister a socket (%r)", error)
        if not self.local and self.refresher is not None:
            self.refresher.cancel()
            self.refresher = None

    async def refresh(self):
        """Keep this process's entries from lapsing while their sockets are open."""
        while self.local:
            await asyncio.sleep(REFRESH_EVERY_S)
            lapse = time.time() + SOCKET_TTL_S
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for token, channels in list(self.local.items()):
                        pipe.zadd(sockets_key(token), {channel: lapse for channel in channels}, xx=True)
                        pipe.expire(sockets_key(token), int(SOCKET_TTL_S) + 1)
                    await pipe.execute()
            except Exception as error:
                log.warning("could not refresh the socket counts (%r)", error)


_registries = weakref.WeakKeyDictionary()  # event loop -> SocketRegistry


def registry():
    loop = asyncio.get_running_loop()
    existing = _registries.get(loop)
    if existing is None:
        existing = _registries[loop] = SocketRegistry(settings.REDIS_URL)
    return existing


async def open_socket(token, channel):
    """Count a participant's new socket; False if they have UXLAB_WS_SOCKETS_PER_PARTICIPANT open."""
    return await registry().open(token, channel, settings.UXLAB_WS_SOCKETS_PER_PARTICIPANT)


async def close_socket(token, channel):
    await registry().close(token, channel)


def participant_budget(token):
    """The frames and bytes a participant may still send through this web process's sockets."""
    return registry().budget(token)
