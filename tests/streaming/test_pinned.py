"""A live arm's connection goes to the address that was checked: DNS is asked once, and a name that
answers a public address first and 127.0.0.1 next (DNS rebinding) never reaches inside. The
network tests stay on loopback: 127.0.0.2 stands for the public address the check lets through."""

import asyncio
import socket

import httpcore
import pytest

from tests.streaming.sse_server import ReplayServer, fixture_events
from uxlab.streaming.backends import egress
from uxlab.streaming.backends.openai_compat import BackendError, LiveSettings, stream_chat, user_messages
from uxlab.streaming.backends.pinned import PinnedNetworkBackend, PinnedTransport

STRICT = egress.EgressPolicy()


def collect(settings, policy, transport=None):
    async def run():
        return [e async for e in stream_chat(settings, user_messages("hi"), transport=transport, policy=policy)]

    return asyncio.run(run())


def answering(*answers):
    """A fake resolver giving each answer in turn (the last one from then on), and its calls."""
    calls = []

    async def resolve(host, port):
        calls.append(host)
        return list(answers[min(len(calls), len(answers)) - 1])

    return resolve, calls


class RecordingStream(httpcore.AsyncNetworkStream):
    """A connection that never touches the network: it records what it was asked for."""

    def __init__(self, backend):
        self.backend = backend
        self.replies = [b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 14\r\n\r\ndata: [DONE]\n\n"]

    async def read(self, max_bytes, timeout=None):
        return self.replies.pop(0) if self.replies else b""

    async def write(self, buffer, timeout=None):
        self.backend.written += buffer

    async def aclose(self):
        pass

    async def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        self.backend.server_hostnames.append(server_hostname)
        raise httpcore.ConnectError("no TLS in this test")


class RecordingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self):
        self.connects, self.server_hostnames, self.written = [], [], b""

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connects.append((host, port))
        return RecordingStream(self)


def test_it_connects_to_the_public_address_it_checked_and_never_asks_dns_again():
    resolve, calls = answering(["93.184.215.14"], ["127.0.0.1"])
    backend = RecordingBackend()
    transport = PinnedTransport(PinnedNetworkBackend(STRICT, resolve, backend))

    assert collect(LiveSettings(base_url="http://api.example.org/v1", model="m"), STRICT, transport) == []

    assert calls == ["api.example.org"] and backend.connects == [("93.184.215.14", 80)]
    assert b"\r\nHost: api.example.org\r\n" in backend.written  # the request still names the host


def test_tls_is_started_for_the_host_name_not_the_address():
    resolve, calls = answering(["93.184.215.14"], ["127.0.0.1"])
    backend = RecordingBackend()
    transport = PinnedTransport(PinnedNetworkBackend(STRICT, resolve, backend))

    with pytest.raises(BackendError) as caught:
        collect(LiveSettings(base_url="https://api.example.org/v1", model="m"), STRICT, transport)

    assert caught.value.code == "connect_failed"
    assert backend.connects == [("93.184.215.14", 443)] and backend.server_hostnames == ["api.example.org"]


def test_a_name_with_any_address_inside_is_refused_before_connecting():
    resolve, _calls = answering(["93.184.215.14", "169.254.169.254"])
    backend = RecordingBackend()
    transport = PinnedTransport(PinnedNetworkBackend(STRICT, resolve, backend))

    with pytest.raises(BackendError) as caught:
        collect(LiveSettings(base_url="http://api.example.org/v1", model="m"), STRICT, transport)

    assert caught.value.code == "address_refused" and "(169.254.169.254)" in caught.value.message
    assert backend.connects == []


@pytest.fixture
def servers():
    """Two servers on one port: 127.0.0.1 (inside, must hear nothing) and 127.0.0.2 (the checked one)."""
    inside = ReplayServer().start()
    checked = ReplayServer(host="127.0.0.2").start(port=inside.port)
    for server in (inside, checked):
        server.play(fixture_events("cerebras_usage.sse"))
    yield inside, checked
    inside.stop()
    checked.stop()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """``rebind.test`` answers the addresses given to ``answer`` in turn, through the system resolver
    every client uses (socket.getaddrinfo); the calls are counted."""
    real = socket.getaddrinfo
    answers, calls = [], []

    def getaddrinfo(host, port, *args, **kwargs):
        if (host.decode() if isinstance(host, bytes) else host) != "rebind.test":  # anyio passes bytes
            return real(host, port, *args, **kwargs)
        calls.append(host)
        address = answers[min(len(calls), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def answer(*addresses):
        answers.extend(addresses)
        return calls

    return answer


def test_a_name_that_rebinds_to_loopback_reaches_only_the_checked_address(servers, rebinding_dns):
    inside, checked = servers
    calls = rebinding_dns("127.0.0.2", "127.0.0.1")
    public_stand_in = egress.EgressPolicy.from_lists(["127.0.0.2/32"])

    events = collect(LiveSettings(base_url=f"http://rebind.test:{inside.port}/v1", model="m"), public_stand_in)

    assert events and inside.requests == []
    assert [request["headers"]["host"] for request in checked.requests] == [f"rebind.test:{inside.port}"]
    assert calls == ["rebind.test"]


def test_a_name_whose_answer_is_inside_is_refused_and_nothing_is_sent(servers, rebinding_dns):
    inside, checked = servers
    rebinding_dns("127.0.0.1")
    public_stand_in = egress.EgressPolicy.from_lists(["127.0.0.2/32"])

    with pytest.raises(BackendError) as caught:
        collect(LiveSettings(base_url=f"http://rebind.test:{inside.port}/v1", model="m"), public_stand_in)

    assert caught.value.code == "address_refused" and "rebind.test is a non-public address (127.0.0.1)" in caught.value.message
    assert inside.requests == [] and checked.requests == []


def test_a_host_the_operator_allows_by_name_connects_to_its_address(servers, rebinding_dns):
    inside, _checked = servers
    rebinding_dns("127.0.0.1")
    allowed = egress.EgressPolicy.from_lists(["rebind.test"])

    assert collect(LiveSettings(base_url=f"http://rebind.test:{inside.port}/v1", model="m"), allowed)
    assert len(inside.requests) == 1
