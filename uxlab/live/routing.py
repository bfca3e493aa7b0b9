"""Websocket URL routes. A path that names no route is closed with 4404 (not an error: a stray or
hostile client is no fault of the server's)."""

from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path, re_path

from uxlab.live.consumers import CLOSE_UNKNOWN, ParticipantConsumer
from uxlab.live.monitor import StudyMonitorConsumer


class NoSuchSocket(AsyncWebsocketConsumer):
    """Refuses the handshake of any path the routes above do not know."""

    async def connect(self):
        await self.close(code=CLOSE_UNKNOWN)


websocket_urlpatterns = [
    # Tokens are secrets.token_urlsafe: anything else (a NUL, a slash) is no participant's.
    re_path(r"^ws/p/(?P<token>[A-Za-z0-9_-]{1,64})/$", ParticipantConsumer.as_asgi()),
    # Researchers: the session cookie identifies the user (AuthMiddlewareStack on this route only).
    path("ws/studies/<slug:code>/monitor/", AuthMiddlewareStack(StudyMonitorConsumer.as_asgi())),
    re_path(r"", NoSuchSocket.as_asgi()),
]
