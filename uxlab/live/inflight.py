"""How many streams of each live arm are in flight, across web processes, and the arm's limit.

With Redis configured each arm has a sorted set of its in-flight streams, scored by when their
lease runs out: a process that dies mid-stream frees its slot when the lease lapses (a running
stream renews its lease). A slot is taken by one Lua script, so two processes cannot both take the
last one. On the embedded default the same is kept in this process, which is all one process needs.

`slot_for(arms)` gives streaming/live.run_live_trial its `slot`: the pane's request runs inside it,
and it yields how many of the arm's streams were in flight when it started (itself included) and
how long it waited. An arm at its `max_in_flight` makes the trial wait up to `queue_timeout_s`
(`when_full: queue`) or refuses it at once (`when_full: skip`), as BackendError "queue_timeout" /
"arm_busy", which the consumer records like any failure of the pane.
"""

import asyncio
import contextlib
import time
import uuid

from django.conf import settings

from uxlab.streaming.backends.openai_compat import BackendError
from uxlab.streaming.kinds import kind_of

LEASE_S = 120.0
RENEW_S = 30.0
POLL_S = 0.05

# KEYS[1] the arm's set; ARGV: now, lease end, member, limit (0: none). Returns {taken, in flight}.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[4])
if limit > 0 and count >= limit then
  return {0, count}
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], 3600)
return {1, count + 1}
"""

_memory: dict[str, dict[str, float]] = {}


def arm_key(arm_id):
    return f"uxlab:inflight:arm:{arm_id}"


class Slots:
    """One arm's in-flight set: take, renew and give back a slot."""

    def __init__(self):
        self.redis = None
        if settings.REDIS_URL:
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(settings.REDIS_URL, **settings.REDIS_ASYNC_OPTIONS)

    async def take(self, key, member, limit):
        """(taken, in flight afterwards or now)."""
        now = time.time()
        if self.redis is None:
            held = _memory.setdefault(key, {})
            for other in [m for m, until in held.items() if until <= now]:
                del held[other]
            if limit and len(held) >= limit:
                return False, len(held)
            held[member] = now + LEASE_S
            return True, len(held)
        taken, count = await self.redis.eval(_TAKE, 1, key, now, now + LEASE_S, member, limit or 0)
        return bool(taken), int(count)

    async def renew(self, key, member):
        if self.redis is None:
            _memory.setdefault(key, {})[member] = time.time() + LEASE_S
        else:
            await self.redis.zadd(key, {member: time.time() + LEASE_S}, xx=True)

    async def give_back(self, key, member):
        if self.redis is None:
            _memory.get(key, {}).pop(member, None)
        else:
            await self.redis.zrem(key, member)

    async def count(self, key):
        if self.redis is None:
            return sum(1 for until in _memory.get(key, {}).values() if until > time.time())
        return await self.redis.zcount(key, time.time(), "+inf")

    async def close(self):
        if self.redis is not None:
            await self.redis.aclose()


async def _renew_forever(slots, key, member):
    while True:
        await asyncio.sleep(RENEW_S)
        try:
            await slots.renew(key, member)
        except Exception:  # a Redis hiccup: the next renewal (or the lease's margin) covers it
            pass


def slot_for(arms):
    """The `slot` of run_live_trial for a trial whose panes play ``arms`` ({pane: arm id})."""

    @contextlib.asynccontextmanager
    async def slot(pane, spec):
        limits = kind_of(spec).concurrency(spec.get("profile") or {})
        key, member = arm_key(arms[pane]), uuid.uuid4().hex
        slots = Slots()
        started = time.monotonic()
        renewal = None
        try:
            while True:
                taken, in_flight = await slots.take(key, member, limits.max_in_flight)
                if taken:
                    break
                if limits.when_full == "skip":
                    raise BackendError("arm_busy", f"{in_flight} streams of the arm are in flight")
                if time.monotonic() - started >= limits.queue_timeout_s:
                    raise BackendError("queue_timeout", f"no slot within {limits.queue_timeout_s} s")
                await asyncio.sleep(POLL_S)
            renewal = asyncio.create_task(_renew_forever(slots, key, member))
            yield in_flight, time.monotonic() - started
        finally:
            if renewal is not None:
                renewal.cancel()
            try:
                await asyncio.shield(slots.give_back(key, member))
            finally:
                await slots.close()

    return slot
