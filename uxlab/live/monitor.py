"""The researcher's live monitor websocket: a study's progress pushed within a second.

Access goes through `get_study_for_user` like every researcher page: an outsider's socket is closed
with code 4404 before anything is sent. The socket is read-only: pausing and resuming are the
monitor page's form posts (web/views_studies.py), the one way to change a study's status.

Frames (JSON). Server → browser: `monitor.snapshot` (see analysis/monitor.py) whenever anything
changed, `error` {code, message} for any frame the browser sends.
"""

import asyncio

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from uxlab.analysis.monitor import monitor_snapshot
from uxlab.studies.access import get_study_for_user

POLL_S = 0.4  # snapshots are compared this often, so a change shows within a second


def find_study(user, code):
    try:
        return get_study_for_user(user, code)
    except Http404:
        return None


class StudyMonitorConsumer(AsyncWebsocketConsumer):
    study = None
    poll_task = None

    async def connect(self):
        self.code = self.scope["url_route"]["kwargs"]["code"]
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4404)
            return
        self.study = await database_sync_to_async(find_study)(self.user, self.code)
        if self.study is None:
            await self.close(code=4404)
            return
        await self.accept()
        self.last = None
        self.poll_task = asyncio.create_task(self.poll())

    async def disconnect(self, code):
        if self.poll_task is not None:
            self.poll_task.cancel()

    async def poll(self):
        while True:
            # Access is checked on every round, so a researcher removed from the team stops seeing data.
            study = await database_sync_to_async(find_study)(self.user, self.code)
            if study is None:
                await self.close(code=4404)
                return
            snapshot = await database_sync_to_async(monitor_snapshot)(study)
            if snapshot != self.last:
                self.last = snapshot
                await self.send(text_data=orjson.dumps(snapshot).decode())
            await asyncio.sleep(POLL_S)

    async def send_error(self, code, message):
        await self.send(text_data=orjson.dumps({"type": "error", "code": code, "message": message}).decode())

    async def receive(self, text_data=None, bytes_data=None):
        await self.send_error("read_only", "This socket only sends snapshots; pause and resume on the monitor page.")
