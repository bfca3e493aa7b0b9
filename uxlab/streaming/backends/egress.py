"""Where a live arm may connect and which key it may send: the guard against a study file that
points a backend at the server's own network (SSRF) or sends a key where it does not belong.

Framework-free: the web app builds an ``EgressPolicy`` from its settings and ``configure``s it at
start; the study-file checks and the HTTP client read ``current_policy()`` (or take one explicitly).
A URL's host must resolve only to public addresses unless the policy allows it by name or network.
The address is checked when a study is written and again when the request connects, to the very
address that was checked (backends/pinned.py), because DNS can change in between.

A key variable (``api_key_env``) must be allowed by name (``UXLAB_KEY_*`` or listed) and bound by
the operator to the hosts it may be sent to (``UXLAB_KEY_HOSTS``), so a study cannot send one
backend's key to a server of its author's choosing.
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

KEY_PREFIX = "UXLAB_KEY_"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
DEFAULT_PORTS = {"http": 80, "https": 443}

# IPv6 ranges that carry an IPv4 address in their last 32 bits: NAT64's well-known prefix
# (RFC 6052), IPv4-translated (RFC 2765) and IPv4-compatible (RFC 4291) addresses; IPv4-mapped
# (::ffff:0:0/96) and 6to4 (2002::/16, RFC 3056) are read by the ipaddress module itself. Such an
# address reaches the IPv4 address it carries, so it is as public as that one.
_CARRY_IPV4 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "::ffff:0:0:0/96", "::/96"))
# Not public, though Python 3.11's is_global says so: local-use NAT64 (RFC 8215), deprecated
# site-local, documentation (RFC 9637), SRv6 SIDs (RFC 9602), the 6to4 relay anycast (RFC 7526).
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b:1::/48", "fec0::/10", "3fff::/20", "5f00::/16", "192.88.99.0/24")
)


class EgressRefused(Exception):
    """The URL or key name is outside the policy; the message says why (never the key's value)."""


def embedded_ipv4(address):
    """The IPv4 address an IPv6 address carries (NAT64, mapped, translated, compatible, 6to4), or None."""
    if address.version != 6:
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if any(address in network for network in _CARRY_IPV4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address) -> bool:
    """Whether an address is on the public internet: global, not multicast, not one of the ranges
    Python misses, and for an IPv6 address carrying an IPv4 one, that IPv4 address is public."""
    address = ipaddress.ip_address(address)
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    return address.is_global and not address.is_multicast and not any(address in n for n in _NOT_PUBLIC)


def _normal_host(host: str) -> str:
    host = host.strip("[]").lower().rstrip(".")
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def _url_host_port(url: str):
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return _normal_host(parts.hostname or ""), port or DEFAULT_PORTS.get(parts.scheme.lower())


def parse_key_host(entry: str):
    """``NAME=host`` or ``NAME=host:port`` (``[::1]:8000`` for IPv6) as (name, host, port or None)."""
    name, _, target = entry.strip().partition("=")
    name, target = name.strip(), target.strip()
    try:
        parts = urlsplit(f"//{target}")
        port = parts.port
    except ValueError:
        parts, port = None, None
    if not ENV_NAME.fullmatch(name) or parts is None or not parts.hostname or parts.path or parts.username:
        raise ValueError(f"UXLAB_KEY_HOSTS: {entry!r} is not NAME=host or NAME=host:port")
    return name, _normal_host(parts.hostname), port


@dataclass(frozen=True)
class EgressPolicy:
    """Host names and networks allowed although not public, key names allowed besides
    ``UXLAB_KEY_*``, and the hosts (and ports) each key may be sent to."""

    allowed_hosts: frozenset = frozenset()
    allowed_networks: tuple = ()
    allowed_key_names: frozenset = frozenset()
    key_hosts: frozenset = frozenset()  # (name, host, port or None)

    @classmethod
    def from_lists(cls, hosts=(), key_names=(), key_hosts=()):
        """``hosts`` holds host names, IP addresses or networks (``127.0.0.0/8``); ``key_hosts``
        ``NAME=host[:port]`` entries (ValueError for a malformed one)."""
        names, networks = set(), []
        for entry in hosts:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        bindings = frozenset(parse_key_host(entry) for entry in key_hosts)
        return cls(frozenset(names), tuple(networks), frozenset(key_names), bindings)

    def host_allowed(self, hostname: str) -> bool:
        return hostname.lower().rstrip(".") in self.allowed_hosts

    def address_allowed(self, address) -> bool:
        address = ipaddress.ip_address(address)
        if any(address in network for network in self.allowed_networks):
            return True
        inner = embedded_ipv4(address)
        if inner is not None:
            return self.address_allowed(inner)
        return is_public(address)

    def key_name_allowed(self, name: str) -> bool:
        return not name or name.startswith(KEY_PREFIX) or name in self.allowed_key_names

    def hosts_for_key(self, name: str) -> list:
        """The ``host`` or ``host:port`` entries the key may be sent to, sorted."""
        return sorted(
            (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
            for key, host, port in self.key_hosts
            if key == name
        )

    def key_host_allowed(self, name: str, url: str) -> bool:
        host, port = _url_host_port(url)
        return any(key == name and bound == host and bound_port in (None, port) for key, bound, bound_port in self.key_hosts)


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


def check_key_host(name: str, url: str, policy: EgressPolicy | None = None) -> None:
    """Refuse to send key ``name`` to ``url`` unless UXLAB_KEY_HOSTS binds it to the URL's host."""
    policy = policy or _policy
    if not name or policy.key_host_allowed(name, url):
        return
    host, port = _url_host_port(url)
    target = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    bound = policy.hosts_for_key(name)
    if bound:
        raise EgressRefused(f"{name} may be sent only to {', '.join(bound)} (UXLAB_KEY_HOSTS), not to {target}")
    raise EgressRefused(f"{name} is bound to no host: the operator binds it in UXLAB_KEY_HOSTS (e.g. {name}={target})")


def literal_address(hostname):
    """The IP address a URL's host is written as, or None for a name."""
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
    not resolve passes here; the connection, which resolves and checks again, refuses it)."""
    policy = policy or _policy
    parts = urlsplit(url)
    # A user name or password in the URL, or a backslash, is where URL parsers disagree on the host
    # (`https://evil.example\\@api.example.org/`): refused, so the host checked is the host reached.
    if "@" in parts.netloc or "\\" in url:
        raise EgressRefused(f"{url}: a live arm's URL may not hold a user name, password or backslash")
    hostname = parts.hostname or ""
    if policy.host_allowed(hostname):
        return
    literal = literal_address(hostname)
    if literal is not None:
        check_addresses(hostname, [literal], policy)
        return
    if resolve:
        try:
            infos = socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        check_addresses(hostname, [info[4][0] for info in infos], policy)


def policy_from_settings(settings) -> EgressPolicy:
    """The policy UXLAB_LIVE_ALLOWED_HOSTS, UXLAB_LIVE_KEY_NAMES and UXLAB_KEY_HOSTS describe
    (``settings``: any object with those attributes); ValueError for a malformed binding."""
    return EgressPolicy.from_lists(
        settings.UXLAB_LIVE_ALLOWED_HOSTS, settings.UXLAB_LIVE_KEY_NAMES, settings.UXLAB_KEY_HOSTS
    )
