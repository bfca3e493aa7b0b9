"""The load generators' HTTP client (uxlab/benchmarks/http_client.py) against a small server that
answers what each test needs: redirects, error statuses, chunked bodies, closed connections."""

import asyncio

import pytest

from uxlab.benchmarks.http_client import HttpClient, HTTPStatusError

pytestmark = pytest.mark.asyncio


class Server:
    """Answers each request with `routes[path](method, body)` -> raw response bytes; counts
    connections and requests; `close_idle()` closes every open connection between requests."""

    def __init__(self, routes):
        self.routes, self.connections, self.requests, self.writers = routes, 0, [], []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.close_idle()
        self.server.close()

    def close_idle(self):
        for writer in self.writers:
            writer.close()
        self.writers = []

    async def serve(self, reader, writer):
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = dict(line.split(": ", 1) for line in lines[1:] if line)
                body = await reader.readexactly(int(headers.get("Content-Length", 0)))
                self.requests.append((method, path, headers, body))
                writer.write(self.routes[path](method, body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def answer(status, body=b"", headers=()):
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_it_follows_a_redirect_after_a_post_with_a_get_and_checks_the_status():
    routes = {
        "/form/": lambda method, body: answer(302, headers=["Location: /p/abc/"]),
        "/p/abc/": lambda method, body: answer(200, b"<p>welcome</p>"),
        "/missing/": lambda method, body: answer(404, b"no"),
    }
    async with Server(routes) as server:
        client = HttpClient(server.url)
        response = await client.post("/form/", headers={"X-CSRFToken": "t"}, data={"decision": "agree"})
        assert (response.status_code, response.text, response.url) == (200, "<p>welcome</p>", server.url + "/p/abc/")
        (post, form, headers, body), (get, page, _headers, _body) = server.requests
        assert (post, form, body, headers["Content-Type"], headers["X-CSRFToken"]) == (
            "POST", "/form/", b"decision=agree", "application/x-www-form-urlencoded", "t"
        )  # fmt: skip
        assert (get, page) == ("GET", "/p/abc/")
        response = await client.get("/missing/")
        with pytest.raises(HTTPStatusError):
            response.raise_for_status()
        await client.aclose()


async def test_it_keeps_one_connection_for_requests_one_after_another_and_reads_chunked_bodies():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    async with Server({"/": lambda method, body: chunked}) as server:
        client = HttpClient(server.url)
        for _ in range(3):
            assert (await client.get("/")).text == "hello world"
        assert server.connections == 1
        await client.aclose()


async def test_it_sends_again_on_a_new_connection_when_the_server_closed_the_idle_one():
    async with Server({"/": lambda method, body: answer(200, b"ok")}) as server:
        client = HttpClient(server.url)
        assert (await client.get("/")).text == "ok"
        server.close_idle()
        await asyncio.sleep(0.05)
        assert (await client.post("/", content=b"{}", headers={"Content-Type": "application/json"})).text == "ok"
        assert server.connections == 2 and [method for method, *_ in server.requests] == ["GET", "POST"]
        await client.aclose()


async def test_it_fails_a_request_whose_answer_was_cut_off_rather_than_sending_it_twice():
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"

    async with Server({"/": lambda method, body: cut}) as server:
        client = HttpClient(server.url, timeout=5)

        async def close_soon():
            await asyncio.sleep(0.1)
            server.close_idle()

        closer = asyncio.ensure_future(close_soon())
        with pytest.raises(ConnectionError):
            await client.post("/", content=b"x")
        await closer
        assert len(server.requests) == 1
        await client.aclose()
