"""Where a live arm may connect and which key it may send: the guard against a study file that
points a backend at the server's own network (SSRF) or names a secret as its key.

Framework-free: the web app builds an ``EgressPolicy`` from its settings and ``configure``s it at
start; the study-file checks and the HTTP client read ``current_policy()`` (or take one explicitly).
A URL's host must resolve only to public (``ipaddress.is_global``) addresses unless the policy
allows it by name or network; the address is checked when a study is written and again before
every request, because DNS can change in between.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

KEY_PREFIX = "UXLAB_KEY_"


class EgressRefused(Exception):
    """The URL or key name is outside the policy; the message says why (never the key's value)."""


@dataclass(frozen=True)
class EgressPolicy:
    """Host names and networks allowed although not public, and key names allowed besides
    ``UXLAB_KEY_*``."""

    allowed_hosts: frozenset = frozenset()
    allowed_networks: tuple = ()
    allowed_key_names: frozenset = frozenset()

    @classmethod
    def from_lists(cls, hosts=(), key_names=()):
        """``hosts`` holds host names, IP addresses or networks (``127.0.0.0/8``)."""
        names, networks = set(), []
        for entry in hosts:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks), frozenset(key_names))

    def host_allowed(self, hostname: str) -> bool:
        return hostname.lower().rstrip(".") in self.allowed_hosts

    def address_allowed(self, address) -> bool:
        address = ipaddress.ip_address(address)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return address.is_global or any(address in network for network in self.allowed_networks)

    def key_name_allowed(self, name: str) -> bool:
        return not name or name.startswith(KEY_PREFIX) or name in self.allowed_key_names


_policy = EgressPolicy()


def configure(policy: EgressPolicy) -> None:
    global _policy
    _policy = policy


def current_policy() -> EgressPolicy:
    return _policy


def check_key_name(name: str, policy: EgressPolicy | None = None) -> None:
    if not (policy or _policy).key_name_allowed(name):
        raise EgressRefused(
            f"must be a variable named {KEY_PREFIX}* or listed in UXLAB_LIVE_KEY_NAMES (not {name})"
        )


def _literal(hostname):
    try:
        return ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        return None


def check_addresses(hostname: str, addresses, policy: EgressPolicy) -> None:
    refused = sorted({str(a) for a in addresses if not policy.address_allowed(a)})
    if refused:
        raise EgressRefused(
            f"{hostname} is a non-public address ({', '.join(refused)}); "
            "allow it with UXLAB_LIVE_ALLOWED_HOSTS if this is intended"
        )


def check_url(url: str, policy: EgressPolicy | None = None, *, resolve: bool = True) -> None:
    """Refuse a URL whose host is not public. ``resolve``: also look the name up (a name that does
    not resolve passes here; the request-time check refuses to connect to it)."""
    policy = policy or _policy
    hostname = urlsplit(url).hostname or ""
    if policy.host_allowed(hostname):
        return
    literal = _literal(hostname)
    if literal is not None:
        check_addresses(hostname, [literal], policy)
        return
    if resolve:
        try:
            infos = socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        check_addresses(hostname, [info[4][0] for info in infos], policy)


async def check_url_now(url: str, policy: EgressPolicy | None = None) -> None:
    """The request-time check: resolve the host now and refuse if any address is not allowed.
    A name that does not resolve passes: the connection then fails on its own."""
    policy = policy or _policy
    hostname = urlsplit(url).hostname or ""
    if policy.host_allowed(hostname):
        return
    literal = _literal(hostname)
    if literal is not None:
        check_addresses(hostname, [literal], policy)
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return
    check_addresses(hostname, [info[4][0] for info in infos], policy)
