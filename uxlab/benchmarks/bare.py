"""The baseline for bench_pacing: a bare Channels consumer pacing the same two panes.

No database, no channel layer, no protocol validation, no participant: it builds the same
frame-coalesced schedule with uxlab.streaming and sends it, so the difference between this and
uxlab's consumer is the overhead of uxlab's real stack. Served by uvicorn with the same flags:
`uvicorn uxlab.benchmarks.bare:application ...`.
"""

import asyncio
import os
import time

import django
import orjson

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uxlab.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from uxlab.live.runtime import tune_for_pacing  # noqa: E402
from uxlab.streaming.delivery import SERVER_PACED, plan_messages  # noqa: E402
from uxlab.streaming.pacing import Pacer  # noqa: E402
from uxlab.streaming.trial import trial_frames  # noqa: E402


class BareConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = "none"  # no channel layer at all
    task = None

    async def connect(self):
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        request = orjson.loads(text_data)
        panes = request["panes"]
        messages = plan_messages(trial_frames(panes), SERVER_PACED)
        self.task = asyncio.create_task(self.stream(messages))

    async def stream(self, messages):
        t0 = time.time() + 0.4
        loop = asyncio.get_running_loop()

        async def send(message):
            frame = message.frame
            if message.kind == "delta":
                await self.send(
                    orjson.dumps(
                        {
                            "type": "stream.delta",
                            "seq": message.seq,
                            "pane": frame.pane,
                            "phase": frame.phase,
                            "text": frame.text,
                            "tokens": frame.tokens,
                            "due_ms": round(frame.due_s * 1000, 3),
                        }
                    ).decode()
                )

        await self.send(orjson.dumps({"type": "stream.start", "seq": 0, "t0_ms": t0 * 1000}).decode())
        pacer = Pacer(messages, clock=loop.time, sleep=asyncio.sleep, at=lambda message: message.send_s)
        await pacer.run(send, start_at=loop.time() + (t0 - time.time()))

    async def disconnect(self, code):
        if self.task is not None:
            self.task.cancel()


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/bare/", BareConsumer.as_asgi())])})
# The same process settings as uxlab's web process, so the comparison isolates the consumer's work.
tune_for_pacing()
