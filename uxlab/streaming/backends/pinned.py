"""Connect a live arm's request to the address that was checked, never to a second answer of DNS.

Checking a host's addresses and then letting the HTTP client resolve the name again when it
connects leaves a gap: a name that answers a public address to the check and 127.0.0.1 to the
client (DNS rebinding) would reach inside the server. Here the connection itself resolves the name
once, checks every address against the egress policy (egress.py), and connects to one of those
checked addresses. Only the TCP connection is pinned: the request keeps its URL, so its Host header
is the host name, and httpcore starts TLS with the URL's host name as ``server_hostname``, so SNI
and certificate verification are by name, as without pinning.

``PinnedTransport`` is httpx's own transport with this network backend (httpcore's public
network-backend API); environment proxy variables are not used, since a proxy would resolve the
name itself.
"""

import asyncio
import functools
import socket
import time
from collections.abc import Awaitable, Callable

import httpcore
import httpx

from uxlab.streaming.backends.egress import EgressPolicy, check_addresses, current_policy, literal_address

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host``, in the order the system resolver gives them, each once."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend that resolves once, checks, and connects to a checked address.

    ``policy``: the egress policy (by default the configured one, read at connect time);
    ``resolver``: ``resolve`` unless a test fakes DNS; ``backend``: the backend that opens sockets.
    """

    def __init__(self, policy: EgressPolicy | None = None, resolver: Resolver = resolve, backend=None):
        self.policy = policy
        self.resolver = resolver
        self.backend = backend or httpcore.AnyIOBackend()

    async def checked_addresses(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """The addresses to connect to, all allowed by the policy (raises EgressRefused otherwise)."""
        policy = self.policy or current_policy()
        literal = literal_address(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                async with asyncio.timeout(timeout):  # not wait_for: it can lose a cancellation on 3.11
                    addresses = await self.resolver(host, port)
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
            except (OSError, UnicodeError):
                raise httpcore.ConnectError(f"cannot resolve {host}") from None
            if not addresses:
                raise httpcore.ConnectError(f"{host} has no address")
        if not policy.host_allowed(host):
            check_addresses(host, addresses, policy)
        return addresses

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses = await self.checked_addresses(host, port, timeout)
        error = None
        for address in addresses:  # the checked addresses only, in the resolver's order
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                return await self.backend.connect_tcp(
                    address, port, timeout=remaining, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("live arms connect over TCP only")

    async def sleep(self, seconds):
        await self.backend.sleep(seconds)


@functools.cache
def ssl_context():
    """httpx's default TLS context (certifi's roots, or SSL_CERT_FILE / SSL_CERT_DIR), made once per
    process: loading the roots for every request would add to every live trial's first token."""
    return httpx.create_ssl_context()


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport whose connections are opened by a PinnedNetworkBackend."""

    def __init__(self, network_backend: PinnedNetworkBackend):
        super().__init__(verify=ssl_context(), trust_env=False)
        # The pool httpx builds, with the pinning network backend (httpcore's public API).
        self._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context(), network_backend=network_backend)
