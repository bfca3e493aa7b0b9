"""ASGI entry point: HTTP through Django (static files by WhiteNoise), websockets through Channels."""

import os

import django

from uxlab.envfile import load_or_exit

# uvicorn reads .env as manage.py does (exported variables win; uxlab/envfile.py).
load_or_exit()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uxlab.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from uxlab.web.handler import OneTripASGIHandler  # noqa: E402

# Django's handler, with a request's synchronous work in one trip to a thread (uxlab/web/handler.py).
django_asgi_app = OneTripASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from uxlab.live.origins import SameOriginValidator  # noqa: E402
from uxlab.live.routing import websocket_urlpatterns  # noqa: E402
from uxlab.live.runtime import tune_for_pacing  # noqa: E402
from uxlab.web.body_limit import LimitRequestBody  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": LimitRequestBody(django_asgi_app),
        "websocket": SameOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

# Measured settings for a process that paces streams (see uxlab/live/runtime.py).
tune_for_pacing()
