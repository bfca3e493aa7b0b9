"""A small HTTP/1.1 client for load generators that share the cores with what they measure.

It keeps connections to one server open between requests, follows redirects as browsers do, and
fails on an error status, like the httpx client it replaces in bench_sessions' load process; but
httpx (with httpcore and anyio under it) spent ~2.6 ms of CPU per page request there, about what
the web process spent answering it, and that CPU came out of the machine being measured. This one
writes the request itself and parses the response with httptools (uvicorn's parser, in C).
"""

import asyncio
from urllib.parse import urlencode, urljoin, urlsplit

import httptools

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10


class HTTPStatusError(Exception):
    """A 4xx or 5xx answer."""


class Response:
    def __init__(self, status, headers, body, url):
        self.status_code, self.headers, self.content, self.url = status, headers, body, url

    @property
    def text(self):
        return self.content.decode()

    def header(self, name):
        return self.headers.get(name.lower())

    def raise_for_status(self):
        if self.status_code >= 400:
            raise HTTPStatusError(f"{self.status_code} for {self.url}")


class _Exchange:
    """httptools' callbacks for one response (the parser forgets whether the connection may be
    kept once the message is complete, so that is noted when it is)."""

    def __init__(self):
        self.parser = httptools.HttpResponseParser(self)
        self.headers, self.body, self.complete, self.keep_alive = {}, [], False, False

    def on_header(self, name, value):
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body):
        self.body.append(body)

    def on_message_complete(self):
        self.complete, self.keep_alive = True, self.parser.should_keep_alive()


class HttpClient:
    """Requests to `base_url` ("http://host:port") over at most `max_connections` kept-alive
    connections; each request (with its redirects) times out after `timeout` seconds."""

    def __init__(self, base_url, max_connections=200, timeout=120.0):
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.host, self.port, self.netloc = parts.hostname, parts.port or 80, parts.netloc
        self.timeout = timeout
        self.idle = []  # (reader, writer) ready for another request
        self.slots = asyncio.Semaphore(max_connections)

    async def get(self, path, headers=None):
        return await self.request("GET", path, headers)

    async def post(self, path, headers=None, data=None, content=b""):
        """POST `data` as a form, or `content` as it is (say its Content-Type in `headers`)."""
        if data is not None:
            content = urlencode(data).encode()
            headers = {**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"}
        return await self.request("POST", path, headers, content)

    async def request(self, method, path, headers=None, body=b""):
        """The final response after redirects (a 301/302/303 turns into a GET, as in browsers)."""
        async with asyncio.timeout(self.timeout):
            for _ in range(MAX_REDIRECTS + 1):
                response = await self.send(method, path, headers or {}, body)
                if response.status_code not in REDIRECTS:
                    return response
                path = urljoin(path, response.header("location"))
                if "://" in path:
                    if not path.startswith(self.base_url + "/"):
                        raise HTTPStatusError(f"a redirect to another server: {path}")
                    path = path[len(self.base_url) :]
                if response.status_code in (301, 302, 303):
                    method, body = "GET", b""
        raise HTTPStatusError(f"more than {MAX_REDIRECTS} redirects from {path}")

    async def send(self, method, path, headers, body):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        async with self.slots:
            while self.idle:
                connection = self.idle.pop()
                if not connection[0].at_eof() and not connection[1].is_closing():
                    try:
                        return await self.exchange(connection, message, path)
                    except ConnectionError as error:
                        if getattr(error, "started", True):
                            raise
                        # The server closed it while it was idle, before reading this: a new one.
                connection[1].close()
            return await self.exchange(await asyncio.open_connection(self.host, self.port), message, path)

    async def exchange(self, connection, message, path):
        reader, writer = connection
        exchange = _Exchange()
        try:
            writer.write(message)
            started = False  # whether any of the answer arrived (else it is safe to send again)
            while not exchange.complete:
                try:
                    data = await reader.read(65536)
                except ConnectionError as error:
                    error.started = started
                    raise
                if not data:
                    error = ConnectionResetError(f"the server closed the connection during {path}")
                    error.started = started
                    raise error
                started = True
                exchange.parser.feed_data(data)
        except BaseException:
            writer.close()
            raise
        if exchange.keep_alive:
            self.idle.append(connection)
        else:
            writer.close()
        status = exchange.parser.get_status_code()
        return Response(status, exchange.headers, b"".join(exchange.body), self.base_url + path)

    async def aclose(self):
        for _reader, writer in self.idle:
            writer.close()
        self.idle = []
