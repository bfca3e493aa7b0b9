"""Publishes the answers of every socket in a web process to the workers in small batches.

One broker message and one transaction per batch instead of per answer is what lets one worker
keep up with a thousand answers a second (docs/reliability.md). The trials' telemetry gathered in
the same window leaves in a second message, at low priority, so no answer waits in the queue behind
telemetry (which costs a worker several times what answers do); one message per batch of trials,
not per trial, since a task per trial cost the worker and the web process more than storing it.
Publishing runs in a small thread pool of its own, so a hung broker blocks neither the event loop
nor the thread that ORM calls share; every caller waits at most its own timeout and then tells its
browser to retry.
"""

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings

from uxlab.studies import actions

PUBLISH_THREADS = 4
_executor = ThreadPoolExecutor(max_workers=PUBLISH_THREADS, thread_name_prefix="rating-publish")
_batchers = weakref.WeakKeyDictionary()  # event loop -> RatingBatcher
# A batch goes out once its telemetry reaches this size (a telemetry frame is at most 1 MiB), so a
# broker message stays within a few MiB however many trials end at once.
TELEMETRY_BATCH_BYTES = 1_048_576
# A page resends its outbox whenever a socket opens: the next trial's page resends the telemetry of
# the one before, which it left before that was stored. Telemetry this process published less than
# this long ago is not published again (a worker would only find it stored): the consumer confirms
# it at once if it is stored, else its `telemetry.stored` reaches the now open socket when it is.
# After this, a resend goes out again (a broker that lost the message).
REPUBLISH_AFTER_S = 60.0


class RatingBatcher:
    """Gathers payloads for at most `max_wait_s` (or `max_size` of them) and publishes them together:
    `publish_answers(answers)` and `publish_telemetry(telemetry)`, each in the order they came, each
    failing only its own callers."""

    def __init__(self, publish_answers, publish_telemetry, *, max_wait_s, max_size, executor=_executor):
        self.publish_answers = publish_answers
        self.publish_telemetry = publish_telemetry
        self.max_wait_s = max_wait_s
        self.max_size = max_size
        self.executor = executor
        self.pending = []  # (payload, is telemetry, future)
        self.pending_bytes = 0
        self.timer = None
        self.publishing = set()
        self.published_telemetry = {}  # key -> when it was published (monotonic s)
        self.pruned_at = 0.0

    def submit(self, payload, telemetry=False, size=0):
        """A future that is done once the payload's batch is in the broker, or fails with the
        publishing error. Cancelling it (a caller's timeout) leaves the payload out if it is not
        published yet. A plain future rather than a coroutine: no task per answer. `telemetry`: the
        payload is a telemetry batch of `size` bytes, not an answer."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((payload, telemetry, future))
        self.pending_bytes += size
        if len(self.pending) >= self.max_size or self.pending_bytes >= TELEMETRY_BATCH_BYTES:
            self.flush()
        elif self.timer is None:
            self.timer = loop.call_later(self.max_wait_s, self.flush)
        return future

    def flush(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        # A caller that gave up (timed out, told its browser to retry) is left out.
        batch = [(payload, telemetry, future) for payload, telemetry, future in self.pending if not future.done()]
        self.pending, self.pending_bytes = [], 0
        if batch:
            task = asyncio.get_running_loop().create_task(self.publish_batch(batch))
            self.publishing.add(task)
            task.add_done_callback(self.publishing.discard)

    async def publish_batch(self, batch):
        answers = [(payload, future) for payload, telemetry, future in batch if not telemetry]
        telemetry = [(payload, future) for payload, telemetry, future in batch if telemetry]
        # Answers first: their confirmations are what participants wait for.
        for publish, items in ((self.publish_answers, answers), (self.publish_telemetry, telemetry)):
            if items and await self.publish_items(publish, items) and publish is self.publish_telemetry:
                self.remember_published(items)

    def published_recently(self, key):
        published = self.published_telemetry.get(key)
        return published is not None and asyncio.get_running_loop().time() - published < REPUBLISH_AFTER_S

    def remember_published(self, items):
        now = asyncio.get_running_loop().time()
        if len(self.published_telemetry) > 10_000 and now - self.pruned_at > REPUBLISH_AFTER_S / 10:
            self.pruned_at = now
            self.published_telemetry = {
                key: at for key, at in self.published_telemetry.items() if now - at < REPUBLISH_AFTER_S
            }
        for payload, _future in items:
            self.published_telemetry[payload["key"]] = now

    async def publish_items(self, publish, items):
        # sync_to_async rather than run_in_executor: where tasks run in-process (the embedded
        # default) the task's notifications find this event loop again.
        publish = sync_to_async(publish, thread_sensitive=False, executor=self.executor)
        try:
            await publish([payload for payload, _future in items])
        except Exception as error:
            for _payload, future in items:
                if not future.done():
                    future.set_exception(error)
            return False
        for _payload, future in items:
            if not future.done():
                future.set_result(None)
        return True


def batcher():
    """This event loop's batcher of answers (one per web process in production)."""
    loop = asyncio.get_running_loop()
    existing = _batchers.get(loop)
    if existing is None:
        existing = _batchers[loop] = RatingBatcher(
            actions.enqueue_ratings,
            actions.enqueue_telemetry,
            max_wait_s=settings.UXLAB_RATING_BATCH_WAIT_MS / 1000,
            max_size=settings.UXLAB_RATING_BATCH_MAX,
        )
    return existing


def submit(payload):
    """Queue one checked answer for a worker; await the returned future (see RatingBatcher.submit)."""
    return batcher().submit(payload)


def published_recently(key):
    """Whether this process published the telemetry batch `key` less than REPUBLISH_AFTER_S ago
    (the consumer does not publish such a resend again)."""
    return batcher().published_recently(key)


def submit_telemetry(payload, size):
    """Queue one checked telemetry batch (`size` bytes) for a worker (in the answers' window, in a
    message of its own)."""
    return batcher().submit(payload, telemetry=True, size=size)
