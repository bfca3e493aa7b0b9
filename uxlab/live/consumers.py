"""The participant's websocket: streams a trial's two panes and forwards answers to the workers."""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from uxlab.live import inflight, limits, protocol, rating_batches, relay
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

# Close codes (docs/protocol.md): no such participant; a session that is over (expired, complete or
# withdrawn); past a limit (too many sockets, too many refused frames).
CLOSE_UNKNOWN = 4404
CLOSE_SESSION_OVER = 4410
CLOSE_LIMIT = 4429
SESSION_OVER_CODES = {code for code, _message in actions.SESSION_CLOSED.values()}
STATE_OF_CODE = {code: state for state, (code, _message) in actions.SESSION_CLOSED.items()}
# A socket reads its session's state back from the database this often at most (it expires or
# completes outside any socket), when an answer or telemetry arrives.
STATE_RECHECK_S = 10.0
RATE_LIMITED = protocol.error_frame("rate_limited", "Too many messages: this one was not handled; send it again later.")


async def store_outcome(action, *args):
    """Store a trial's outcome even if this task is cancelled meanwhile (the socket went away)."""
    return await asyncio.shield(in_db_thread(action)(*args))


def live_timing(relayed):
    """The server timing of a live trial: every delta message as [seq, pane, at_s, tokens, phase],
    a scheduled pane's message of several tokens with each token's due time (s) as a sixth item."""
    return {"relayed": [entry for entry in relayed if entry[4] != "done"]}


def live_records(responses):
    """Each live pane's whole response (streaming/live.PaneRecord) as JSON-ready data."""
    return {pane: record.as_dict() for pane, record in responses.items()}


def encoded_plan(stream):
    """The trial's messages after the browser's resume point, encoded up front as (send time, text)
    pairs, how many messages the whole trial has, and when its last one is sent (s after t0).
    Tuples of floats and strings leave the garbage collector nothing to trace, so a thousand
    streams' plans cost no collector pauses."""
    messages = plan_messages(trial_frames(stream["panes"], **stream["layout"]), stream["delivery"])
    pending = messages_after(messages, stream["after_seq"])
    end_s = max((message.send_s for message in messages), default=0.0)
    return [(message.send_s, protocol.stream_message_frame(message)) for message in pending], len(messages), end_s


def send_time(item):
    return item[0]


def log_task_failure(task):
    """Log what went wrong in a socket's background task; a browser that went away is no failure
    (uvicorn's ClientDisconnected is an OSError)."""
    if task.cancelled() or task.exception() is None or isinstance(task.exception(), OSError):
        return
    log.error("a participant socket task failed", exc_info=task.exception())


class ParticipantConsumer(AsyncWebsocketConsumer):
    """One socket per participant page. Frames are parsed by `protocol`; the work happens elsewhere.

    Limits (live/limits.py) come first: a socket past its participant's socket limit is closed at
    once, and a frame past the socket's frame budget is refused before it is parsed, so a flood
    never reaches the database. A session that is over is refused with `session_expired` or
    `session_completed` and closed.
    """

    context = None
    stream_task = None
    pacer = None
    streaming_trial = None
    registered = False
    closing = False
    finished_trial = None  # the index of the last trial whose finish this socket stored

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["token"]
        self.context = await in_db_thread(actions.load_participant_context)(token)
        if self.context is None:
            await self.close(code=CLOSE_UNKNOWN)
            return
        self.submissions = set()
        self.budget = limits.participant_budget(self.context.token)
        self.refused_frames = 0
        self.state_checked_at = time.monotonic()
        await self.accept()
        if self.context.state != "active":
            await self.refuse(CLOSE_SESSION_OVER, *actions.SESSION_CLOSED[self.context.state])
            return
        if not await limits.open_socket(self.context.token, self.channel_name):
            limit = settings.UXLAB_WS_SOCKETS_PER_PARTICIPANT
            await self.refuse(CLOSE_LIMIT, "too_many_sockets", f"At most {limit} pages of a session may be open at once.")
            return
        self.registered = True
        await self.channel_layer.group_add(self.context.group_name, self.channel_name)
        await self.send_frame(protocol.hello_frame())

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
        await self.leave()

    async def send_frame(self, text):
        """Send a frame if the browser is still there; False if it is gone (nothing to log: the
        browser resends or resumes after it reconnects)."""
        try:
            await self.send(text)
            return True
        except (OSError, RuntimeError):  # uvicorn's ClientDisconnected, or a send after the close
            return False

    async def refuse(self, close_code, code, message, ref=None):
        """Say why in an error frame, then close the socket; later frames are ignored, and its place
        in the participant's socket count is free at once."""
        if self.closing:
            return
        self.closing = True
        if self.stream_task is not None:
            self.stream_task.cancel()
        await self.send_frame(protocol.error_frame(code, message, ref))
        try:
            await self.close(code=close_code)
        except (OSError, RuntimeError):
            pass
        await self.leave()

    async def leave(self):
        """Give up this socket's place in the participant's socket count and group (once)."""
        if self.registered:
            self.registered = False
            await limits.close_socket(self.context.token, self.channel_name)
            await self.channel_layer.group_discard(self.context.group_name, self.channel_name)

    async def refuse_frame(self):
        """A frame past the socket's budget: refused unread; too many of them close the socket."""
        self.refused_frames += 1
        if self.refused_frames > settings.UXLAB_WS_REFUSED_FRAMES_MAX:
            log.warning("closing a socket of participant %s: too many frames", self.context.participant_id)
            await self.refuse(CLOSE_LIMIT, "too_many_frames", "Too many messages; this connection is closed.")
        else:
            await self.send_frame(RATE_LIMITED)

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        if not self.budget.frames.take():
            await self.refuse_frame()
            return
        size = 0 if text_data is None else protocol.frame_bytes(text_data)
        if not self.budget.bytes.take(size):
            await self.refuse_frame()
            return
        try:
            message = protocol.parse_client_frame(text_data, size)
        except protocol.ProtocolError as error:
            await self.send_frame(protocol.error_frame(error.code, error.message, error.ref))
            return
        if isinstance(message, protocol.TrialStart):
            await self.start_stream(message.trial, message.after_seq)
        elif isinstance(message, protocol.TelemetrySubmit):
            self.spawn(self.submit_telemetry(message, size))
        elif isinstance(message, protocol.RatingSubmit):
            # Publishing may wait on a slow broker; never hold up this socket's other frames for it.
            self.spawn(self.submit_rating(message))
        elif isinstance(message, protocol.Ping):
            await self.send_frame(protocol.pong_frame(message.t, time.time() * 1000))

    def spawn(self, coroutine):
        task = asyncio.create_task(coroutine)
        self.submissions.add(task)
        task.add_done_callback(self.submissions.discard)
        task.add_done_callback(log_task_failure)

    # --- streaming ------------------------------------------------------------------------------

    async def start_stream(self, index, after_seq=None):
        if self.stream_task is not None:
            self.stream_task.cancel()
        self.pacer = None
        if not self.context.consented and not await self.reload_context():
            return
        try:
            stream = await in_db_thread(actions.start_trial)(self.context.participant_id, index, after_seq)
        except actions.TrialUnavailable as error:
            if error.code in SESSION_OVER_CODES:
                self.context.state = STATE_OF_CODE[error.code]
                await self.refuse(CLOSE_SESSION_OVER, error.code, error.message)
            else:
                await self.send_frame(protocol.error_frame(error.code, error.message))
            return
        self.context.learn_started(index, stream["t0"])
        # A trial made since this socket connected (an adaptive design's next one) is known now.
        self.context.trial_ids.setdefault(index, stream["trial_id"])
        if stream["delivery"] == LIVE:
            if stream["after_seq"] == 0 and not stream["resumed"]:
                # The producer outlives this socket, so a reconnect anywhere can tail its buffer.
                producer = asyncio.create_task(self.produce_live(stream))
                relay.running_producers.add(producer)
                producer.add_done_callback(relay.running_producers.discard)
                producer.add_done_callback(log_task_failure)
            else:
                self.stream_task = asyncio.create_task(self.tail_live(stream))
                self.stream_task.add_done_callback(log_task_failure)
            return
        # Planning a trial is ~1.5 ms of CPU: off the event loop, so a thousand starts at once do
        # not delay the frames of streams already running.
        try:
            outgoing, total, end_s = await sync_to_async(encoded_plan, thread_sensitive=False)(stream)
        except Exception:  # a stimulus that cannot be planned is the server's fault, never the frame's
            log.exception("could not plan trial %s", stream["trial_id"])
            await self.send_frame(protocol.error_frame("stream_failed", "This trial cannot be shown right now."))
            return
        if stream["after_seq"] > total:
            message = f"after_seq is past the end of this trial's stream ({total} messages)."
            await self.send_frame(protocol.error_frame("bad_message", message))
            return
        self.stream_task = asyncio.create_task(self.stream(stream, outgoing, total, end_s))
        self.stream_task.add_done_callback(log_task_failure)

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
        """Run a live trial, keeping every message in the relay buffer and sending it as produced.

        The trial's outcome (the relayed timing and each live pane's whole response) is stored
        before the browser hears of it: it answers, and sends its telemetry, next."""
        index, key = stream["trial"], relay.buffer_key(stream["trial_id"], stream["t0"])
        buffer = relay.StreamBuffer()
        await buffer.open(key)
        relayed, attached = [], await self.send_quietly(self.start_frame(stream))

        async def emit(pane, kind, phase, text, tokens, at_s, parts=None):
            nonlocal attached
            seq = len(relayed) + 1
            due_ms = round(at_s * 1000, 3)
            if kind == "delta":
                wire_parts = [[round(due_s * 1000, 3), part] for due_s, part in parts] if parts else None
                message = protocol.stream_delta_frame(seq, pane, phase, text, tokens, due_ms, wire_parts)
                # A scheduled pane's frame keeps its tokens' due times: its fidelity is judged per token.
                entry = [seq, pane, at_s, tokens, phase] + ([[due_s for due_s, _ in parts]] if parts else [])
            else:
                message = protocol.stream_done_frame(seq, pane, due_ms)
                entry = [seq, pane, at_s, 0, "done"]
            relayed.append(entry)
            await buffer.append(key, message)
            if attached:
                attached = await self.send_quietly(message)
            return seq

        loop = asyncio.get_running_loop()
        responses = {}
        await asyncio.sleep(max(0.0, stream["t0"] - time.time()))
        try:
            await run_live_trial(
                stream["panes"], emit, clock=loop.time, sleep=asyncio.sleep,
                responses=responses, slot=inflight.slot_for(stream["arms"]),
            )
        except BackendError as error:
            log.warning("live trial %s failed: %s", stream["trial_id"], error.code)
            outcome = await store_outcome(
                actions.fail_live_trial, self.context.participant_id, index, error.code,
                live_timing(relayed), live_records(responses),
            )
            reason = "trial_skipped" if outcome == actions.SKIPPED else "backend_failed"
            interrupted = protocol.stream_interrupted_frame(len(relayed) + 1, index, reason)
            await buffer.append(key, interrupted)
            await self.send_quietly(interrupted)
            await buffer.close()
            return
        await store_outcome(
            actions.finish_live_trial, self.context.participant_id, index, live_timing(relayed), live_records(responses)
        )
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

    async def stream(self, stream, outgoing, total, end_s):
        """Send the messages the browser has not seen, each at t0 + its send time; the trial is
        finished once its last message is due to be sent (`end_s`), whatever the resume point."""
        index = stream["trial"]
        end = protocol.stream_end_frame(total + 1, index)
        if not await self.send_frame(self.start_frame(stream)):
            return

        async def send_text(item):
            await self.send(item[1])

        loop = asyncio.get_running_loop()
        # t0 is wall-clock time shared by every web process; pace on this loop's monotonic clock.
        start_at = loop.time() + (stream["t0"] - time.time())
        pacer = Pacer(outgoing, clock=loop.time, sleep=asyncio.sleep, at=send_time)
        self.pacer, self.streaming_trial = pacer, index
        try:
            await pacer.run(send_text, start_at=start_at)
        except (OSError, RuntimeError):  # the browser went away (uvicorn's ClientDisconnected is an OSError)
            return  # the disconnect handler records what was sent
        # A resume point at (or a browser claiming to be at) the end sends nothing: the trial is not
        # shown any sooner than its stream could have been.
        await asyncio.sleep(max(0.0, start_at + end_s - loop.time()))

        # Stored before the end frame goes out: a socket closed right after it (a tab closed at the
        # end) cancels this task, and the trial must not be left streaming.
        await store_outcome(actions.finish_trial, self.context.participant_id, index, pacer.lateness_summary())
        self.context.learn_finished(index)
        self.finished_trial = index
        await self.send_frame(end)

    # --- answers --------------------------------------------------------------------------------

    async def submit_rating(self, message):
        # Batched with this process's other answers and published from threads of its own: a hung
        # broker blocks neither this event loop nor the thread every ORM call shares.
        await self.submit(message, actions.check_rating, rating_batches.submit, "rating")

    async def submit_telemetry(self, message, size):
        key = str(message.key)
        if rating_batches.published_recently(key):
            # A resend (the next trial's page sends its outbox as it opens) of telemetry this process
            # has just handed to a worker: not published again. If it is stored already, its
            # confirmation may have found no socket open (between two pages): say so now.
            if await in_db_thread(actions.telemetry_is_stored)(key):
                await self.send_frame(protocol.telemetry_stored_frame(key))
            return
        # Batched with this process's answers, in a message of its own (rating_batches).
        await self.submit(
            message,
            lambda context, message, now: actions.check_telemetry(context, message, now, size),
            lambda payload: rating_batches.submit_telemetry(payload, size),
            "telemetry",
        )

    async def submit(self, message, check, publish, what):
        """Check a keyed message against this session and queue it for a worker; if the broker does
        not take it in time, tell the browser to resend it later (its outbox keeps it)."""
        if not await self.refresh_context():
            return
        try:
            try:
                payload = check(self.context, message, timezone.now())
            except actions.TrialNotShown:
                # Perhaps streamed on another socket or process since this context was loaded.
                progress = await in_db_thread(actions.load_progress)(self.context.participant_id, message.trial)
                self.context.learn_progress(progress)
                payload = check(self.context, message, timezone.now())
        except actions.RatingRejected as error:
            if error.code in SESSION_OVER_CODES:
                await self.refuse(CLOSE_SESSION_OVER, error.code, error.message, str(message.key))
            else:
                await self.send_frame(protocol.error_frame(error.code, error.message, str(message.key)))
            return
        try:
            async with asyncio.timeout(settings.UXLAB_PUBLISH_TIMEOUT_S):  # not wait_for: see live/redis_connection.py
                await publish(payload)
        except Exception as error:
            log.warning("could not queue %s %s (%r); the browser will retry", what, message.key, error)
            # If the socket is gone, the browser resends after it reconnects.
            await self.send_frame(protocol.rating_retry_frame(message.key, "queue_unavailable"))

    async def reload_context(self):
        """Load the context again (consent assigns the trials); False, and the socket closed, if the
        participant is gone (declining consent deletes them)."""
        context = await in_db_thread(actions.load_participant_context)(self.context.token)
        if context is None:
            await self.refuse(CLOSE_UNKNOWN, "unknown_participant", "This session no longer exists.")
            return False
        self.context, self.state_checked_at = context, time.monotonic()
        return True

    async def refresh_context(self):
        """Before consent everything may change; after it, only the session's state (read back at
        most every STATE_RECHECK_S). False if the socket was closed meanwhile."""
        if not self.context.consented:
            return await self.reload_context()
        if time.monotonic() - self.state_checked_at > STATE_RECHECK_S:
            self.state_checked_at = time.monotonic()
            self.context.state = await in_db_thread(actions.load_session_state)(self.context.participant_id)
        return not self.closing

    async def session_closed(self, event):
        """The session was completed or expired elsewhere (the done page, the expiry job): answers
        and streams are refused from now on, with no wait for the next read of its state."""
        if event.get("state") in actions.SESSION_CLOSED:
            self.context.state = event["state"]
            self.state_checked_at = time.monotonic()

    async def events_batch(self, message):
        """A web process's share of a batch of events (studies/events.py): this socket's, in order."""
        for event in message["events"].get(self.channel_name, ()):
            await self.dispatch(event)

    async def rating_stored(self, event):
        """From a worker, through the channel layer, once the answers are committed: one frame per key."""
        for key in event.get("keys") or [event["key"]]:
            if not await self.send_frame(protocol.rating_stored_frame(key)):
                return

    async def telemetry_stored(self, event):
        await self.send_frame(protocol.telemetry_stored_frame(event["key"]))

    async def session_withdrawn(self, event):
        """The participant withdrew (on another page) or was withdrawn by the study team: say so
        and close, whatever this socket was doing (actions.withdraw_participant sends it)."""
        if self.context is not None:
            self.context.state = "withdrawn"
        await self.refuse(CLOSE_SESSION_OVER, *actions.SESSION_CLOSED["withdrawn"])

    async def dispatch(self, message):
        """Channels' dispatch, minus its per-message hop to the ORM thread to close old database
        connections: every ORM call here goes through database_sync_to_async, which closes them
        itself, and at a thousand answers a second the hop (twice per answer, all sockets through
        one thread) cost more CPU than storing the answers (docs/reliability.md)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
