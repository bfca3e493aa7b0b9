"""The ASGI handler (uxlab/web/handler.py): a request's synchronous work in one trip to one of a
bounded set of threads, the same middleware as Django's handler, streamed responses sent whole,
and the thread's database connection given back at the end of the request."""

import asyncio
import threading
import time

import pytest
from django.core import signals
from django.db import connection, connections
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from uxlab.web.handler import OneTripASGIHandler

pytestmark = pytest.mark.asyncio

seen = []  # (what, thread name) in the order it happened


def note(what):
    seen.append((what, threading.current_thread().name))


def plain(request):
    note("view")
    return HttpResponse("plain")


def slow(request):
    note("view")
    time.sleep(0.05)
    return HttpResponse("slow")


def queried(request):
    note("view")
    with connection.cursor() as cursor:
        cursor.execute("select 1")
    # The request thread's own connection wrapper: `connection` is a proxy that, read later from the
    # test's thread, would look up that thread's connection instead.
    seen.append(("connection", connections["default"]))
    return HttpResponse("queried")


def streamed(request):
    def chunks():
        for number in range(3):
            note(f"chunk {number}")
            yield f"part {number};"

    return StreamingHttpResponse(chunks())


urlpatterns = [path("plain/", plain), path("slow/", slow), path("queried/", queried), path("streamed/", streamed)]


def on_started(**kwargs):
    note("request_started")


def on_finished(**kwargs):
    note("request_finished")


@pytest.fixture
def handler(settings):
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.UXLAB_HTTP_THREADS = 2
    seen.clear()
    signals.request_started.connect(on_started)
    signals.request_finished.connect(on_finished)
    yield OneTripASGIHandler()
    signals.request_started.disconnect(on_started)
    signals.request_finished.disconnect(on_finished)


async def get(handler, url):
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": url, "raw_path": url.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }  # fmt: skip
    requested = False

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected

    response = {"body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            response["status"] = message["status"]
            response["headers"] = {name.lower(): value for name, value in message["headers"]}
        else:
            response["body"] += message.get("body", b"")

    await handler(scope, receive, send)
    return response


async def test_it_runs_a_request_start_to_finish_in_one_of_its_threads_with_every_middleware(handler):
    response = await get(handler, "/plain/")
    assert response["status"] == 200 and response["body"] == b"plain"
    # The security middleware ran: the same headers as through Django's own handler.
    assert b"content-security-policy" in response["headers"]
    assert response["headers"][b"x-frame-options"] == b"DENY"
    assert [what for what, _ in seen] == ["request_started", "view", "request_finished"]
    threads = {name for _what, name in seen}
    assert len(threads) == 1 and threads.pop().startswith("http")


async def test_it_never_runs_more_requests_at_once_than_it_has_threads(handler):
    responses = await asyncio.gather(*(get(handler, "/slow/") for _ in range(8)))
    assert [response["body"] for response in responses] == [b"slow"] * 8
    views = [name for what, name in seen if what == "view"]
    assert len(views) == 8 and len(set(views)) <= 2


async def test_it_sends_a_streamed_response_whole_and_finishes_the_request_after_it(handler):
    response = await get(handler, "/streamed/")
    assert response["status"] == 200
    assert response["body"] == b"part 0;part 1;part 2;"
    order = [what for what, _ in seen]
    assert order == ["request_started", "chunk 0", "chunk 1", "chunk 2", "request_finished"]
    # Produced and closed in one thread of its own, as Django's handler does it.
    assert len({name for what, name in seen if what != "request_started"}) == 1


@pytest.mark.django_db(transaction=True)
async def test_it_gives_the_threads_database_connection_back_when_the_request_ends(handler):
    response = await get(handler, "/queried/")
    assert response["body"] == b"queried"
    used = next(value for what, value in seen if what == "connection")
    assert used.connection is None  # closed, so back in the pool, not held by the thread
