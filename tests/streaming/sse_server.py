"""A real streaming HTTP server on 127.0.0.1 (or another loopback address) for end-to-end tests of
the live backend.

It runs an asyncio server in a background thread and answers every POST with a scripted
response: a status, an optional delay before the headers, then body pieces each sent after its
own delay, with chunked transfer encoding as real OpenAI-compatible servers use.
"""

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_events(name):
    """The events of a recorded SSE fixture, each with its closing blank line."""
    text = (FIXTURES / name).read_text()
    return [block + "\n\n" for block in text.split("\n\n") if block.strip()]


@dataclass
class Script:
    pieces: list  # [(delay_s, text)]
    status: int = 200
    content_type: str = "text/event-stream"
    headers_delay_s: float = 0.0
    complete: bool = True  # False: drop the connection instead of ending the body


@dataclass
class ReplayServer:
    script: Script | None = None
    requests: list = field(default_factory=list)
    # time.monotonic() when the last request was read, and when each of its pieces was written.
    received_at: float | None = None
    sent_at: list = field(default_factory=list)
    host: str = "127.0.0.1"

    def start(self, port=0):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def listen():
            return await asyncio.start_server(self._handle, self.host, port)

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}/v1"

    def stop(self):
        async def shutdown():
            self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def play(self, events, gap_s=0.0, first_delay_s=0.0, **options):
        """Script: send ``events`` ``gap_s`` apart, the first after ``first_delay_s``."""
        self.script = Script(
            [(first_delay_s if i == 0 else gap_s, event) for i, event in enumerate(events)], **options
        )
        return self

    async def _handle(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            self.requests.append({"line": lines[0], "headers": headers, "json": json.loads(body or b"null")})
            self.received_at, self.sent_at = time.monotonic(), []
            script = self.script
            await asyncio.sleep(script.headers_delay_s)
            writer.write(
                (
                    f"HTTP/1.1 {script.status} X\r\ncontent-type: {script.content_type}\r\n"
                    "transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            for delay, text in script.pieces:
                await asyncio.sleep(delay)
                data = text.encode()
                # Taken before the write: the earliest the client can have the event. Taken after
                # it, a loaded machine could run the client (and time the chunk) before this line.
                self.sent_at.append(time.monotonic())
                writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                await writer.drain()
            if script.complete:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
