"""The participant's websocket: streams a trial's two panes and forwards answers to the workers."""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from uxlab.live import protocol, rating_batches, relay
from uxlab.live.runtime import in_db_thread
from uxlab.studies import actions
from uxlab.streaming.backends.openai_compat import BackendError
from uxlab.streaming.delivery import CONTROLLED, LIVE, LOOKAHEAD_S, messages_after, plan_messages
from uxlab.streaming.live import run_live_trial
from uxlab.streaming.pacing import Pacer
from uxlab.streaming.trial import trial_frames

log = logging.getLogger(__name__)

# A resumed live stream polls its buffer this often, and gives up after this long without news
# (longer than a backend's slowest thinking pause is allowed to be between chunks).
LIVE_POLL_S = 0.02
LIVE_RESUME_IDLE_S = 90.0


async def store_outcome(action, *args):
    """Store a trial's outcome even if this task is cancelled meanwhile (the socket went away)."""
    await asyncio.shield(in_db_thread(action)(*args))


def encoded_plan(stream):
    """The trial's messages after the browser's resume point, encoded up front as (send time, text)
    pairs, and how many messages the whole trial has. Tuples of floats and strings leave the garbage
    collector nothing to trace, so a thousand streams' plans cost no collector pauses."""
    messages = plan_messages(trial_frames(stream["panes"], **stream["layout"]), stream["delivery"])
    pending = messages_after(messages, stream["after_seq"])
    return [(message.send_s, protocol.stream_message_frame(message)) for message in pending], len(messages)


def send_time(item):
    return item[0]


def log_stream_failure(task):
    if not task.cancelled() and task.exception() is not None:
        log.error("a trial stream failed", exc_info=task.exception())


class ParticipantConsumer(AsyncWebsocketConsumer):
    """One socket per participant page. Frames are parsed by `protocol`; the work happens elsewhere."""

    context = None
    stream_task = None
    pacer = None
    streaming_trial = None
    finished_trial = None  # the index of the last trial whose finish this socket stored

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["token"]
        self.context = await in_db_thread(actions.load_participant_context)(token)
        if self.context is None:
            await self.close(code=4404)
            return
        self.submissions = set()
        await self.channel_layer.group_add(self.context.group_name, self.channel_name)
        await self.accept()
        await self.send(protocol.hello_frame())

    async def disconnect(self, code):
        if self.stream_task is not None:
            self.stream_task.cancel()
            await asyncio.gather(self.stream_task, return_exceptions=True)
            pacer = self.pacer
            if pacer is not None and pacer.next_index < len(pacer.frames):
                # Keep what was sent before the socket went away: fidelity of interrupted trials.
                await in_db_thread(actions.record_server_timing)(
                    self.context.participant_id, self.streaming_trial, pacer.lateness_summary()
                )
            elif pacer is not None and self.finished_trial != self.streaming_trial:
                # The whole stream was sent but the socket went before its outcome was stored.
                await store_outcome(
                    actions.finish_trial, self.context.participant_id, self.streaming_trial, pacer.lateness_summary()
                )
        if self.context is not None:
            await self.channel_layer.group_discard(self.context.group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = protocol.parse_client_frame(text_data)
        except protocol.ProtocolError as error:
            await self.send(protocol.error_frame(error.code, error.message, error.ref))
            return
        if isinstance(message, protocol.TrialStart):
            await self.start_stream(message.trial, message.after_seq)
        elif isinstance(message, protocol.TelemetrySubmit):
            task = asyncio.create_task(self.submit_telemetry(message))
            self.submissions.add(task)
            task.add_done_callback(self.submissions.discard)
        elif isinstance(message, protocol.RatingSubmit):
            # Publishing may wait on a slow broker; never hold up this socket's other frames for it.
            task = asyncio.create_task(self.submit_rating(message))
            self.submissions.add(task)
            task.add_done_callback(self.submissions.discard)
        elif isinstance(message, protocol.Ping):
            await self.send(protocol.pong_frame(message.t, time.time() * 1000))

    # --- streaming ------------------------------------------------------------------------------

    async def start_stream(self, index, after_seq=None):
        if self.stream_task is not None:
            self.stream_task.cancel()
        self.pacer = None
        if not self.context.consented:
            self.context = await in_db_thread(actions.load_participant_context)(self.context.token)
        try:
            stream = await in_db_thread(actions.start_trial)(self.context.participant_id, index, after_seq)
        except actions.TrialUnavailable as error:
            await self.send(protocol.error_frame(error.code, error.message))
            return
        if stream["delivery"] == LIVE:
            if stream["after_seq"] == 0 and not stream["resumed"]:
                # The producer outlives this socket, so a reconnect anywhere can tail its buffer.
                producer = asyncio.create_task(self.produce_live(stream))
                relay.running_producers.add(producer)
                producer.add_done_callback(relay.running_producers.discard)
                producer.add_done_callback(log_stream_failure)
            else:
                self.stream_task = asyncio.create_task(self.tail_live(stream))
                self.stream_task.add_done_callback(log_stream_failure)
            return
        # Planning a trial is ~1.5 ms of CPU: off the event loop, so a thousand starts at once do
        # not delay the frames of streams already running.
        try:
            outgoing, total = await sync_to_async(encoded_plan, thread_sensitive=False)(stream)
        except Exception:  # a stimulus that cannot be planned is the server's fault, never the frame's
            log.exception("could not plan trial %s", stream["trial_id"])
            await self.send(protocol.error_frame("stream_failed", "This trial cannot be shown right now."))
            return
        self.stream_task = asyncio.create_task(self.stream(stream, outgoing, total))
        self.stream_task.add_done_callback(log_stream_failure)

    def start_frame(self, stream):
        return protocol.stream_start_frame(
            stream["trial"],
            stream["delivery"],
            round(stream["t0"] * 1000, 3),
            round(LOOKAHEAD_S * 1000) if stream["delivery"] == CONTROLLED else 0,
            stream["after_seq"],
            stream["resumed"],
            stream["restarted"],
        )

    async def send_quietly(self, text):
        """Send if the browser is still there; a live producer carries on without it."""
        try:
            await self.send(text)
            return True
        except (OSError, RuntimeError):
            return False

    async def produce_live(self, stream):
        """Run a live trial, keeping every message in the relay buffer and sending it as produced."""
        index, key = stream["trial"], relay.buffer_key(stream["trial_id"], stream["t0"])
        buffer = relay.StreamBuffer()
        relayed, attached = [], await self.send_quietly(self.start_frame(stream))

        async def emit(pane, kind, phase, text, tokens, at_s):
            nonlocal attached
            seq = len(relayed) + 1
            due_ms = round(at_s * 1000, 3)
            if kind == "delta":
                message = protocol.stream_delta_frame(seq, pane, phase, text, tokens, due_ms)
            else:
                message = protocol.stream_done_frame(seq, pane, due_ms)
            relayed.append([seq, pane, at_s, tokens, phase] if kind == "delta" else [seq, pane, at_s, 0, "done"])
            await buffer.append(key, message)
            if attached:
                attached = await self.send_quietly(message)

        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, stream["t0"] - time.time()))
        try:
            await run_live_trial(stream["panes"], emit, clock=loop.time, sleep=asyncio.sleep)
        except BackendError as error:
            log.warning("live trial %s failed: %s", stream["trial_id"], error.code)
            # The outcome is stored before the browser hears of it (it answers, and sends telemetry, next).
            await store_outcome(actions.interrupt_trial, self.context.participant_id, index, error.code)
            await buffer.append(key, protocol.stream_interrupted_frame(len(relayed) + 1, index, "backend_failed"))
            await self.send_quietly(protocol.stream_interrupted_frame(len(relayed) + 1, index, "backend_failed"))
            await buffer.close()
            return
        timing = {"relayed": [entry for entry in relayed if entry[4] != "done"]}
        await store_outcome(actions.finish_trial, self.context.participant_id, index, timing)
        end = protocol.stream_end_frame(len(relayed) + 1, index)
        await buffer.append(key, end)
        await self.send_quietly(end)
        await buffer.close()

    async def tail_live(self, stream):
        """Resume a live trial from the buffer, following it until it ends; a buffer that is gone or
        stops growing means a gap that cannot be filled: the trial is marked interrupted."""
        index, key = stream["trial"], relay.buffer_key(stream["trial_id"], stream["t0"])
        buffer = relay.StreamBuffer()
        after_seq, idle_since = stream["after_seq"], time.monotonic()
        await self.send(self.start_frame(stream))
        try:
            while True:
                messages = await buffer.read(key, after_seq)
                for message in messages:
                    await self.send(message)
                after_seq += len(messages)
                if messages:
                    idle_since = time.monotonic()
                    if '"type":"stream.end"' in messages[-1] or '"type":"stream.interrupted"' in messages[-1]:
                        return
                elif time.monotonic() - idle_since > LIVE_RESUME_IDLE_S or not await buffer.exists(key):
                    await store_outcome(actions.interrupt_trial, self.context.participant_id, index, "gap")
                    await self.send(protocol.stream_interrupted_frame(after_seq + 1, index, "gap"))
                    return
                await asyncio.sleep(LIVE_POLL_S)
        finally:
            await buffer.close()

    async def stream(self, stream, outgoing, total):
        """Send the messages the browser has not seen, each at t0 + its send time."""
        index = stream["trial"]
        end = protocol.stream_end_frame(total + 1, index)
        await self.send(self.start_frame(stream))

        async def send_text(item):
            await self.send(item[1])

        loop = asyncio.get_running_loop()
        # t0 is wall-clock time shared by every web process; pace on this loop's monotonic clock.
        start_at = loop.time() + (stream["t0"] - time.time())
        pacer = Pacer(outgoing, clock=loop.time, sleep=asyncio.sleep, at=send_time)
        self.pacer, self.streaming_trial = pacer, index
        try:
            await pacer.run(send_text, start_at=start_at)
        except OSError:  # the browser went away (uvicorn's ClientDisconnected is an OSError)
            return  # the disconnect handler records what was sent

        # Stored before the end frame goes out: a socket closed right after it (a tab closed at the
        # end) cancels this task, and the trial must not be left streaming.
        await store_outcome(actions.finish_trial, self.context.participant_id, index, pacer.lateness_summary())
        self.finished_trial = index
        await self.send_quietly(end)

    # --- answers --------------------------------------------------------------------------------

    async def submit_rating(self, message):
        # Batched with this process's other answers and published from threads of its own: a hung
        # broker blocks neither this event loop nor the thread every ORM call shares.
        await self.submit(message, actions.check_rating, rating_batches.submit, "rating")

    async def submit_telemetry(self, message):
        await self.submit(
            message,
            actions.check_telemetry,
            lambda payload: rating_batches.publish_one(actions.enqueue_telemetry, payload),
            "telemetry",
        )

    async def submit(self, message, check, publish, what):
        """Check a keyed message against this session and queue it for a worker; if the broker does
        not take it in time, tell the browser to resend it later (its outbox keeps it)."""
        if not self.context.consented:
            self.context = await in_db_thread(actions.load_participant_context)(self.context.token)
        try:
            payload = check(self.context, message, timezone.now())
        except actions.RatingRejected as error:
            await self.send(protocol.error_frame(error.code, error.message, str(message.key)))
            return
        try:
            await asyncio.wait_for(publish(payload), timeout=settings.UXLAB_PUBLISH_TIMEOUT_S)
        except Exception as error:
            log.warning("could not queue %s %s (%r); the browser will retry", what, message.key, error)
            try:
                await self.send(protocol.rating_retry_frame(message.key, "queue_unavailable"))
            except Exception:  # The socket is gone: the browser resends after it reconnects.
                pass

    async def events_batch(self, message):
        """A web process's share of a batch of events (studies/events.py): this socket's, in order."""
        for event in message["events"].get(self.channel_name, ()):
            await self.dispatch(event)

    async def rating_stored(self, event):
        """From a worker, through the channel layer, once the answers are committed: one frame per key."""
        for key in event.get("keys") or [event["key"]]:
            await self.send(protocol.rating_stored_frame(key))

    async def telemetry_stored(self, event):
        await self.send(protocol.telemetry_stored_frame(event["key"]))

    async def dispatch(self, message):
        """Channels' dispatch, minus its per-message hop to the ORM thread to close old database
        connections: every ORM call here goes through database_sync_to_async, which closes them
        itself, and at a thousand answers a second the hop (twice per answer, all sockets through
        one thread) cost more CPU than storing the answers (docs/reliability.md)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
