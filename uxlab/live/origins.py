"""The websocket origin check: the page that opens a socket must be on this very site, compared as
full origins (scheme, host and port), the way Django's CSRF check compares form posts. Channels'
AllowedHostsOriginValidator compares host names only, so a page on another port of the same host
could open the monitor socket with a researcher's cookie."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _origin(url):
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname.lower(), port


def _trusted():
    return {_origin(url) for url in [settings.SITE_URL, *settings.CSRF_TRUSTED_ORIGINS]} - {None}


def origin_allowed(scope) -> bool:
    headers = {name.decode("latin1").lower(): value.decode("latin1") for name, value in scope.get("headers", [])}
    origin = _origin(headers.get("origin", ""))
    if origin is None:
        return False
    allowed_hosts = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    if origin in _trusted():
        return True
    host = headers.get("host")
    if host is None:
        # Only in-process test clients send no Host (HTTP/1.1 requires it): the host-name check.
        return validate_host(origin[1], allowed_hosts)
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts):
        return False
    secure = scope.get("scheme") in ("wss", "https")
    if settings.SECURE_PROXY_SSL_HEADER and headers.get("x-forwarded-proto", "").split(",")[0].strip() == "https":
        secure = True
    return origin == _origin(f"{'https' if secure else 'http'}://{host}")


class SameOriginValidator:
    """ASGI middleware refusing a websocket whose Origin is not this site's (403 at the handshake)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
