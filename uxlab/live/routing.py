"""Websocket URL routes."""

from django.urls import path

from uxlab.live.consumers import ParticipantConsumer

websocket_urlpatterns = [
    path("ws/p/<str:token>/", ParticipantConsumer.as_asgi()),
]
