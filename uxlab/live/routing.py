"""Websocket URL routes."""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from uxlab.live.consumers import ParticipantConsumer
from uxlab.live.monitor import StudyMonitorConsumer

websocket_urlpatterns = [
    path("ws/p/<str:token>/", ParticipantConsumer.as_asgi()),
    # Researchers: the session cookie identifies the user (AuthMiddlewareStack on this route only).
    path("ws/studies/<slug:code>/monitor/", AuthMiddlewareStack(StudyMonitorConsumer.as_asgi())),
]
