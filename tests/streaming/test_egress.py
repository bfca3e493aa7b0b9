"""Live arms may reach only public addresses and send only allowlisted keys (egress.py), checked
when the arm is written and again before every request."""

import asyncio

import httpx
import pytest

from uxlab.streaming.backends import egress
from uxlab.streaming.backends.openai_compat import BackendError, LiveSettings, stream_chat, user_messages
from uxlab.streaming.kinds.live import LiveKind

STRICT = egress.EgressPolicy()
REFUSED_URLS = [
    "http://127.0.0.1:8000/v1", "http://[::1]:8000/v1", "http://0.0.0.0/v1", "http://169.254.169.254/latest",
    "http://10.1.2.3/v1", "http://192.168.0.10/v1", "http://172.16.0.1/v1", "http://[fd00::1]/v1",
    "http://100.64.0.1/v1", "http://[::ffff:127.0.0.1]/v1", "http://localhost:11434/v1",
]  # fmt: skip


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_it_refuses_non_public_addresses_at_write_time(url):
    with pytest.raises(egress.EgressRefused, match="non-public address"):
        egress.check_url(url, STRICT)


@pytest.mark.parametrize("url", [
    "https://user:secret@api.example.org/v1", "https://evil.example.com\\@api.example.org/v1",
    "http://127.0.0.1\\@api.example.org/v1", "https://api.example.org@127.0.0.1/v1",
])  # fmt: skip
def test_it_refuses_userinfo_and_backslashes_where_parsers_disagree_on_the_host(url):
    with pytest.raises(egress.EgressRefused, match="user name, password or backslash"):
        egress.check_url(url, STRICT)


def test_it_accepts_public_addresses_and_allowed_hosts():
    egress.check_url("https://93.184.215.14/v1", STRICT)
    egress.check_url("https://api.example.org/v1", STRICT)  # does not resolve here: checked again at request time
    allowed = egress.EgressPolicy.from_lists(["127.0.0.0/8", "model-box"])
    egress.check_url("http://127.0.0.1:8000/v1", allowed)
    egress.check_url("http://model-box:8000/v1", allowed)
    with pytest.raises(egress.EgressRefused):
        egress.check_url("http://169.254.169.254/", allowed)


def test_it_allows_only_allowlisted_key_names():
    policy = egress.EgressPolicy.from_lists(key_names=["OPENAI_API_KEY"])
    for name in ("", "UXLAB_KEY_OPENAI", "OPENAI_API_KEY"):
        egress.check_key_name(name, policy)
    for name in ("SECRET_KEY", "DATABASE_URL", "SQLITE_PATH", "UXLAB_KEYS"):
        with pytest.raises(egress.EgressRefused, match="UXLAB_KEY_"):
            egress.check_key_name(name, policy)


def test_the_live_kind_settings_run_the_checks():
    errors = {}
    for field, value in (("base_url", "http://169.254.169.254/v1"), ("api_key_env", "SECRET_KEY")):
        data = {"base_url": "https://api.example.org/v1", "model": "m", field: value}
        with pytest.raises(Exception) as caught:
            LiveKind.Settings.model_validate(data)
        errors[field] = str(caught.value)
    assert "non-public address (169.254.169.254)" in errors["base_url"]
    assert "UXLAB_KEY_" in errors["api_key_env"]


def events(settings, policy, transport=None):
    async def collect():
        return [e async for e in stream_chat(settings, user_messages("hi"), transport=transport, policy=policy)]

    return asyncio.run(collect())


def test_it_resolves_and_refuses_at_request_time_a_name_that_points_inside():
    # A name that passed the write-time check (e.g. resolved elsewhere then) resolves to loopback now.
    # No transport: the real network path, refused before any connection is made.
    with pytest.raises(BackendError) as caught:
        events(LiveSettings(base_url="http://localhost:9/v1", model="m"), STRICT)
    assert caught.value.code == "address_refused"
    assert "localhost is a non-public address" in caught.value.message
    assert "127.0.0.1" in caught.value.message or "::1" in caught.value.message


def test_it_refuses_literal_addresses_even_through_the_test_transport():
    transport = httpx.MockTransport(lambda request: pytest.fail("the request was sent"))
    with pytest.raises(BackendError) as caught:
        events(LiveSettings(base_url="http://169.254.169.254/v1", model="m"), STRICT, transport)
    assert caught.value.code == "address_refused"


def test_it_refuses_a_key_name_outside_the_allowlist_at_request_time(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "the-secret")
    transport = httpx.MockTransport(lambda request: pytest.fail("the request was sent"))
    with pytest.raises(BackendError) as caught:
        events(LiveSettings(base_url="https://api.example.org/v1", model="m", api_key_env="SECRET_KEY"), STRICT, transport)
    assert caught.value.code == "key_not_allowed" and "the-secret" not in str(caught.value)


def test_it_never_follows_a_redirect():
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(307, headers={"Location": "http://169.254.169.254/latest/meta-data"})

    with pytest.raises(BackendError) as caught:
        events(LiveSettings(base_url="https://api.example.org/v1", model="m"), STRICT, httpx.MockTransport(handler))
    assert caught.value.code == "redirected" and seen == ["https://api.example.org/v1/chat/completions"]


# --- IPv6 addresses that carry an IPv4 address -----------------------------------------------------

CARRYING_INSIDE = [
    "64:ff9b::7f00:1",  # NAT64 (RFC 6052) of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254, the cloud metadata service
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "::ffff:7f00:1",  # IPv4-mapped
    "::ffff:0:a9fe:a9fe",  # IPv4-translated (RFC 2765)
    "::7f00:1",  # IPv4-compatible (deprecated)
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "64:ff9b:1::5db8:d70e",  # local-use NAT64 (RFC 8215): never public
]


@pytest.mark.parametrize("address", CARRYING_INSIDE)
def test_an_ipv6_address_carrying_a_non_public_ipv4_one_is_not_public(address):
    assert not egress.is_public(address)
    with pytest.raises(egress.EgressRefused, match="non-public address"):
        egress.check_url(f"http://[{address}]/v1", STRICT)


def test_an_ipv6_address_carrying_a_public_ipv4_one_is_as_public_as_it():
    for address in ("64:ff9b::5db8:d70e", "2002:5db8:d70e::1", "2606:4700:4700::1111"):
        assert egress.is_public(address), address
        egress.check_url(f"https://[{address}]/v1", STRICT)
    # What the operator allows for IPv4 is allowed as carried too (the suite's 127.0.0.0/8).
    assert egress.EgressPolicy.from_lists(["127.0.0.0/8"]).address_allowed("64:ff9b::7f00:1")


# --- Keys bound to hosts --------------------------------------------------------------------------

BOUND = egress.EgressPolicy.from_lists(
    ["127.0.0.0/8"], key_hosts=["UXLAB_KEY_OPENAI=api.openai.com", "UXLAB_KEY_OPENAI=eu.api.openai.com",
                                "UXLAB_KEY_LOCAL=127.0.0.1:8000", "UXLAB_KEY_V6=[2606:4700::1]:443"],
)  # fmt: skip


def test_a_key_is_sent_only_to_the_hosts_and_ports_it_is_bound_to():
    for name, url in (("UXLAB_KEY_OPENAI", "https://api.openai.com/v1"), ("UXLAB_KEY_OPENAI", "https://EU.api.openai.com./v1"),
                      ("UXLAB_KEY_LOCAL", "http://127.0.0.1:8000/v1"), ("UXLAB_KEY_V6", "https://[2606:4700:0::1]/v1"),
                      ("", "https://anywhere.example/v1")):  # fmt: skip
        egress.check_key_host(name, url, BOUND)
    with pytest.raises(egress.EgressRefused) as caught:
        egress.check_key_host("UXLAB_KEY_OPENAI", "https://collector.example.net/v1", BOUND)
    assert str(caught.value) == (
        "UXLAB_KEY_OPENAI may be sent only to api.openai.com, eu.api.openai.com (UXLAB_KEY_HOSTS), "
        "not to collector.example.net:443"
    )
    with pytest.raises(egress.EgressRefused, match=r"only to 127.0.0.1:8000 \(UXLAB_KEY_HOSTS\), not to 127.0.0.1:9000"):
        egress.check_key_host("UXLAB_KEY_LOCAL", "http://127.0.0.1:9000/v1", BOUND)
    with pytest.raises(egress.EgressRefused, match="UXLAB_KEY_OTHER is bound to no host"):
        egress.check_key_host("UXLAB_KEY_OTHER", "https://api.openai.com/v1", BOUND)


@pytest.mark.parametrize("entry", ["UXLAB_KEY_X", "=api.openai.com", "UXLAB_KEY_X=", "UXLAB_KEY_X=host/path",
                                   "UXLAB_KEY_X=host:port", "UXLAB KEY=host", "UXLAB_KEY_X=user@host"])  # fmt: skip
def test_a_malformed_binding_is_refused_naming_the_setting(entry):
    with pytest.raises(ValueError, match="UXLAB_KEY_HOSTS"):
        egress.EgressPolicy.from_lists(key_hosts=[entry])


def test_a_key_sent_elsewhere_is_refused_at_request_time_before_anything_is_sent(monkeypatch):
    monkeypatch.setenv("UXLAB_KEY_OPENAI", "sk-openai-secret")
    transport = httpx.MockTransport(lambda request: pytest.fail("the request was sent"))
    settings = LiveSettings(base_url="https://collector.example.net/v1", model="m", api_key_env="UXLAB_KEY_OPENAI")
    with pytest.raises(BackendError) as caught:
        events(settings, BOUND, transport)
    assert caught.value.code == "key_not_allowed" and "may be sent only to api.openai.com" in caught.value.message
    assert "sk-openai" not in str(caught.value)


def test_the_live_kind_settings_refuse_a_key_sent_to_a_host_it_is_not_bound_to():
    before = egress.current_policy()
    egress.configure(BOUND)
    try:
        LiveKind.Settings.model_validate({"base_url": "https://api.openai.com/v1", "model": "m", "api_key_env": "UXLAB_KEY_OPENAI"})
        with pytest.raises(Exception, match="UXLAB_KEY_OPENAI may be sent only to"):
            LiveKind.Settings.model_validate({"base_url": "https://collector.example.net/v1", "model": "m",
                                              "api_key_env": "UXLAB_KEY_OPENAI"})  # fmt: skip
    finally:
        egress.configure(before)
