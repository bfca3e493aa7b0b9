"""bench_adaptive's simulated page moves on as the participant page does (uxlab/static/uxlab/player.js
and outbox.js mustBeStoredFirst), against a small server of trial pages and their socket: a trial
page that says `data-telemetry-follows` leaves once its answer is stored, its telemetry following
from the next page's outbox; any other waits for every trial's telemetry."""

import asyncio
import http
import math
import random
import time

import orjson
import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from uxlab.benchmarks.management.commands import bench_adaptive

pytestmark = pytest.mark.asyncio

TOKEN = "participant"


class Server:
    """`trials` trials. A page request gets the first unanswered trial's page (telemetry follows on
    all but the last, unless `adaptive`), then a redirect to the done page. A socket says hello,
    streams a trial as one delta, confirms answers at once and telemetry only where
    `confirm_telemetry(trial of the socket's page)` says (a backlog of telemetry otherwise); each
    closed socket is recorded with the trials whose telemetry had been confirmed by then."""

    def __init__(self, trials, adaptive, confirm_telemetry):
        self.trials, self.adaptive, self.confirm_telemetry = trials, adaptive, confirm_telemetry
        self.answered, self.telemetry_stored, self.closed, self.paths = set(), set(), [], []

    def current(self):
        return min(set(range(self.trials)) - self.answered, default=None)

    def page(self, connection, request):
        if "Upgrade" in request.headers:
            return None
        self.paths.append(request.path)
        current = self.current()
        if request.path.endswith("/done/"):
            return connection.respond(http.HTTPStatus.OK, f"Your code: {bench_adaptive.CODE_WORD}")
        if current is None:
            headers = Headers({"Location": f"/p/{TOKEN}/done/", "Content-Length": "0"})
            return Response(302, "Found", headers, b"")
        follows = "true" if current < self.trials - 1 and not self.adaptive else "false"
        return connection.respond(http.HTTPStatus.OK, f'<div id="player" data-trial="{current}" '
                                                      f'data-telemetry-follows="{follows}"></div>')

    async def socket(self, websocket):
        trial = self.current()
        await websocket.send(orjson.dumps({"type": "hello"}).decode())
        try:
            async for raw in websocket:
                message = orjson.loads(raw)
                kind = message["type"]
                if kind == "trial.start":
                    t0_ms = time.time() * 1000
                    for frame in ({"type": "stream.start", "t0_ms": t0_ms, "after_seq": 0},
                                  {"type": "stream.delta", "seq": 1, "due_ms": 0},
                                  {"type": "stream.end", "seq": 2}):
                        await websocket.send(orjson.dumps(frame).decode())
                elif kind == "rating.submit":
                    self.answered.add(message["trial"])
                    await websocket.send(orjson.dumps({"type": "rating.stored", "key": message["key"]}).decode())
                elif kind == "telemetry.submit" and self.confirm_telemetry(trial):
                    self.telemetry_stored.add(message["trial"])
                    await websocket.send(orjson.dumps({"type": "telemetry.stored", "key": message["key"]}).decode())
        finally:
            self.closed.append((trial, sorted(self.telemetry_stored)))


async def run_page(server, monkeypatch):
    monkeypatch.setattr(bench_adaptive, "pane_speeds", lambda token, index: {"A": 60.0, "B": 20.0})
    observer = bench_adaptive.Observer(math.log10(20), 3.0, 0.03, random.Random(1))
    async with serve(server.socket, "127.0.0.1", 0, process_request=server.page) as listening:
        port = listening.sockets[0].getsockname()[1]
        browser = bench_adaptive.PageBrowser(f"http://127.0.0.1:{port}", TOKEN, observer, timeout=5)
        async with asyncio.timeout(10):  # the page resends after 15 s of silence: waiting means stuck
            result = await browser.run()
    assert result["completed"] and result["errors"] == [] and len(result["trials"]) == server.trials
    assert browser.outbox == {}
    return server.closed


async def test_a_trial_whose_telemetry_follows_moves_on_once_its_answer_is_stored(monkeypatch):
    # Telemetry is stored only while the last trial's page is open (a backlog until then).
    server = Server(3, adaptive=False, confirm_telemetry=lambda trial: trial == 2)

    closed = await run_page(server, monkeypatch)

    # The first two pages left with their telemetry unconfirmed; the last page's socket sent it
    # again as it opened, and the last page left only when every trial's telemetry was stored.
    assert closed == [(0, []), (1, []), (2, [0, 1, 2])]
    # The participant's link, then each trial page's continue URL (the last one's leads to the done page).
    assert server.paths == [f"/p/{TOKEN}/"] + [f"/p/{TOKEN}/trial/"] * 3 + [f"/p/{TOKEN}/done/"]


async def test_a_page_without_telemetry_follows_waits_for_its_telemetry(monkeypatch):
    # An adaptive study: any answer may end the session, so no page leaves telemetry behind.
    server = Server(3, adaptive=True, confirm_telemetry=lambda trial: True)

    closed = await run_page(server, monkeypatch)

    assert closed == [(0, [0]), (1, [0, 1]), (2, [0, 1, 2])]
