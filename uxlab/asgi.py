"""ASGI entry point: HTTP through Django (static files included), websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uxlab.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from uxlab.web.static_files import StaticFilesHandler  # noqa: E402

from uxlab.live.routing import websocket_urlpatterns  # noqa: E402
from uxlab.live.runtime import tune_for_pacing  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": StaticFilesHandler(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

# Measured settings for a process that paces streams (see uxlab/live/runtime.py).
tune_for_pacing()
