"""Publishes the answers of every socket in a web process to the workers in small batches.

One broker message and one transaction per batch instead of per answer is what lets one worker
keep up with a thousand answers a second (docs/reliability.md). A trial's telemetry, which a page
sends with its answers, travels in the same message (stored after the answers, each batch on its
own): a task of its own cost the worker and the web process more than storing it. Publishing runs
in a small thread pool of its own, so a hung broker blocks neither the event loop nor the thread
that ORM calls share; every caller waits at most its own timeout and then tells its browser to retry.
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


class RatingBatcher:
    """Gathers payloads for at most `max_wait_s` (or `max_size` of them) and publishes them together:
    `publish(answers, telemetry)`, the answers and the telemetry batches in the order they came."""

    def __init__(self, publish, *, max_wait_s, max_size, executor=_executor):
        self.publish = publish
        self.max_wait_s = max_wait_s
        self.max_size = max_size
        self.executor = executor
        self.pending = []  # (payload, is telemetry, future)
        self.pending_bytes = 0
        self.timer = None
        self.publishing = set()

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
        # sync_to_async rather than run_in_executor: where tasks run in-process (the embedded
        # default) the task's notifications find this event loop again.
        publish = sync_to_async(self.publish, thread_sensitive=False, executor=self.executor)
        answers = [payload for payload, telemetry, _future in batch if not telemetry]
        telemetry = [payload for payload, telemetry, _future in batch if telemetry]
        try:
            await publish(answers, telemetry)
        except Exception as error:
            for _payload, _telemetry, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for _payload, _telemetry, future in batch:
                if not future.done():
                    future.set_result(None)


def batcher():
    """This event loop's batcher of answers (one per web process in production)."""
    loop = asyncio.get_running_loop()
    existing = _batchers.get(loop)
    if existing is None:
        existing = _batchers[loop] = RatingBatcher(
            actions.enqueue_ratings,
            max_wait_s=settings.UXLAB_RATING_BATCH_WAIT_MS / 1000,
            max_size=settings.UXLAB_RATING_BATCH_MAX,
        )
    return existing


def submit(payload):
    """Queue one checked answer for a worker; await the returned future (see RatingBatcher.submit)."""
    return batcher().submit(payload)


def submit_telemetry(payload, size):
    """Queue one checked telemetry batch (`size` bytes) for a worker, with the answers."""
    return batcher().submit(payload, telemetry=True, size=size)
