"""The researcher's live monitor websocket: a study's progress pushed within a second, and pause/resume.

Access goes through `get_study_for_user` like every researcher page: an outsider's socket is closed
with code 4404 before anything is sent; pausing needs write access (owner or editor).

Frames (JSON). Server → browser: `monitor.snapshot` (see analysis/monitor.py) whenever anything
changed, `error` {code, message}. Browser → server: `study.pause`, `study.resume`.
"""

import asyncio

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from uxlab.analysis.monitor import monitor_snapshot
from uxlab.studies import actions
from uxlab.studies.access import get_study_for_user

POLL_S = 0.4  # snapshots are compared this often, so a change shows within a second
MAX_FRAME = 1024


def find_study(user, code, write=False):
    try:
        return get_study_for_user(user, code, write=write)
    except Http404:
        return None


def change_status(user, code, command):
    """Pause or resume the study if this user may; returns an error code or None."""
    study = find_study(user, code, write=True)
    if study is None:
        return "not_allowed"
    (actions.pause_study if command == "study.pause" else actions.resume_study)(study)
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
        self.wake = asyncio.Event()
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
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=POLL_S)
            except TimeoutError:
                pass
            self.wake.clear()

    async def send_error(self, code, message):
        await self.send(text_data=orjson.dumps({"type": "error", "code": code, "message": message}).decode())

    async def receive(self, text_data=None, bytes_data=None):
        if not text_data or len(text_data) > MAX_FRAME:
            await self.send_error("bad_message", "Send a small JSON object.")
            return
        try:
            message = orjson.loads(text_data)
        except orjson.JSONDecodeError:
            await self.send_error("bad_json", "That was not JSON.")
            return
        command = message.get("type") if isinstance(message, dict) else None
        if command not in ("study.pause", "study.resume"):
            await self.send_error("unknown_type", "Known messages: study.pause, study.resume.")
            return
        error = await database_sync_to_async(change_status)(self.user, self.code, command)
        if error:
            await self.send_error(error, "Only the study's owners and editors can pause or resume it.")
            return
        self.wake.set()
