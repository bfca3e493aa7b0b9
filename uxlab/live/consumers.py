"""The participant's websocket: streams a trial's two panes and forwards answers to the workers."""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from uxlab.live import protocol
from uxlab.studies import actions
from uxlab.streaming.pacing import Pacer
from uxlab.streaming.trial import trial_frames

log = logging.getLogger(__name__)


class ParticipantConsumer(AsyncWebsocketConsumer):
    """One socket per participant page. Frames are parsed by `protocol`; the work happens elsewhere."""

    context = None
    stream_task = None

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["token"]
        self.context = await database_sync_to_async(actions.load_participant_context)(token)
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
        if self.context is not None:
            await self.channel_layer.group_discard(self.context.group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = protocol.parse_client_frame(text_data)
        except protocol.ProtocolError as error:
            await self.send(protocol.error_frame(error.code, error.message, error.ref))
            return
        if isinstance(message, protocol.TrialStart):
            await self.start_stream(message.trial)
        elif isinstance(message, protocol.RatingSubmit):
            # Publishing may wait on a slow broker; never hold up this socket's other frames for it.
            task = asyncio.create_task(self.submit_rating(message))
            self.submissions.add(task)
            task.add_done_callback(self.submissions.discard)
        elif isinstance(message, protocol.Ping):
            await self.send(protocol.pong_frame(message.t, time.time() * 1000))

    # --- streaming ------------------------------------------------------------------------------

    async def start_stream(self, index):
        if self.stream_task is not None:
            self.stream_task.cancel()
        try:
            panes = await database_sync_to_async(actions.start_trial)(self.context.participant_id, index)
        except actions.TrialUnavailable as error:
            await self.send(protocol.error_frame(error.code, error.message))
            return
        if not self.context.consented:
            self.context = await database_sync_to_async(actions.load_participant_context)(self.context.token)
        self.stream_task = asyncio.create_task(self.stream(index, trial_frames(panes)))

    async def stream(self, index, frames):
        seq = 0

        async def send_frame(frame):
            nonlocal seq
            if frame.tokens:
                seq += 1
                await self.send(
                    protocol.stream_delta_frame(
                        seq, frame.pane, frame.phase, frame.text, frame.tokens, round(frame.due_s * 1000, 1)
                    )
                )
            if frame.last:
                seq += 1
                await self.send(protocol.stream_done_frame(seq, frame.pane))

        await self.send(protocol.stream_start_frame(seq, index))
        loop = asyncio.get_running_loop()
        await Pacer(frames, clock=loop.time, sleep=asyncio.sleep).run(send_frame)
        await database_sync_to_async(actions.finish_trial)(self.context.participant_id, index)
        await self.send(protocol.stream_end_frame(seq + 1, index))

    # --- answers --------------------------------------------------------------------------------

    async def submit_rating(self, message):
        if not self.context.consented:
            self.context = await database_sync_to_async(actions.load_participant_context)(self.context.token)
        try:
            payload = actions.check_rating(self.context, message, timezone.now())
        except actions.RatingRejected as error:
            await self.send(protocol.error_frame(error.code, error.message, str(message.key)))
            return
        try:
            # Not thread_sensitive: a hung broker must not hold the thread every ORM call shares.
            publish = sync_to_async(actions.enqueue_rating, thread_sensitive=False)
            await asyncio.wait_for(publish(payload), timeout=settings.UXLAB_PUBLISH_TIMEOUT_S)
        except Exception:
            log.warning("could not queue rating %s; the browser will retry", message.key, exc_info=True)
            await self.send(protocol.rating_retry_frame(message.key, "queue_unavailable"))

    async def rating_stored(self, event):
        """From a worker, through the channel layer, once the answer is committed."""
        await self.send(protocol.rating_stored_frame(event["key"]))
