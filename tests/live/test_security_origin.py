"""The websocket origin check compares full origins: another port or scheme of the same host is refused."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from uxlab.asgi import application
from uxlab.live.origins import origin_allowed


def scope(origin, host="uxlab.example.org", scheme="ws", **extra):
    headers = [(b"origin", origin.encode())] if origin is not None else []
    if host is not None:
        headers.append((b"host", host.encode()))
    headers += [(name.encode(), value.encode()) for name, value in extra.items()]
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.fixture
def public_site(settings):
    settings.ALLOWED_HOSTS = ["uxlab.example.org", "127.0.0.1"]
    settings.SITE_URL = "https://uxlab.example.org"
    settings.CSRF_TRUSTED_ORIGINS = []


def test_it_allows_the_sites_own_origin(public_site):
    assert origin_allowed(scope("http://uxlab.example.org"))
    assert origin_allowed(scope("http://127.0.0.1:8000", host="127.0.0.1:8000"))
    assert origin_allowed(scope("https://uxlab.example.org", scheme="wss"))
    assert origin_allowed(scope("https://uxlab.example.org:443", scheme="wss"))
    assert origin_allowed(scope("https://uxlab.example.org"))  # SITE_URL is trusted


def test_it_refuses_another_port_scheme_or_host(public_site):
    assert not origin_allowed(scope("http://127.0.0.1:9999", host="127.0.0.1:8000"))
    assert not origin_allowed(scope("http://127.0.0.1", host="127.0.0.1:8000"))
    assert not origin_allowed(scope("https://127.0.0.1:8000", host="127.0.0.1:8000"))
    assert not origin_allowed(scope("https://uxlab.example.org:8443", scheme="wss"))
    assert not origin_allowed(scope("http://evil.example.com", host="evil.example.com"))
    assert not origin_allowed(scope("http://uxlab.example.org.evil.com"))
    assert not origin_allowed(scope(None))
    assert not origin_allowed(scope("null"))


def test_it_trusts_forwarded_https_only_when_told_to(public_site, settings):
    proxied = scope("https://127.0.0.1:8443", host="127.0.0.1:8443", **{"x-forwarded-proto": "https"})
    assert not origin_allowed(proxied)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert origin_allowed(proxied)


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_page_on_another_port_cannot_open_the_monitor_with_a_researchers_cookie(study, alice):
    cookie = await sync_to_async(session_cookie)(alice)

    async def connect(origin):
        headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000"), (b"cookie", f"sessionid={cookie}".encode())]
        communicator = WebsocketCommunicator(application, f"/ws/studies/{study.code}/monitor/", headers=headers)
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    assert await connect(b"http://127.0.0.1:8000") == (True, None)
    connected, code = await connect(b"http://127.0.0.1:8001")
    assert not connected and code == 1000  # closed before the handshake: a server answers HTTP 403
