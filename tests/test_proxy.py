"""The shipped nginx configuration (deploy/nginx/), started the way `manage.py serve` starts it, in
front of real processes: what it tells the web processes about the client (its address, and
whether it came over https), with no proxy in front of it and behind a trusted TLS-terminating one."""

import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.conf import settings

from tests.conftest import QUICK_STUDY_YAML, import_yaml, make_user
from uxlab.benchmarks.processes import Process, free_port, web_server
from uxlab.processes import find_nginx, proxy_command, write_proxy_config

pytestmark = pytest.mark.services

# Where the tests' client (on loopback) plays a TLS-terminating proxy, with a load balancer's network.
OUTER_PROXIES = ["127.0.0.1", "10.0.0.0/8"]


def start_nginx(runtime_dir, upstream_port, trusted_proxies=()):
    """nginx with the shipped configuration in front of 127.0.0.1:`upstream_port`, as serve runs it."""
    nginx = find_nginx()
    assert nginx, "Debian's nginx is needed: run `make test`, which installs it (`make proxy`)"
    port = free_port()
    config = write_proxy_config(runtime_dir, f"127.0.0.1:{port}", [f"127.0.0.1:{upstream_port}"], trusted_proxies=trusted_proxies)
    process = Process([nginx, *proxy_command(config)[1:]], dict(os.environ), runtime_dir / "nginx.log", ready=port)
    process.url = f"http://127.0.0.1:{port}"
    return process.start()


class EchoHeaders(BaseHTTPRequestHandler):
    """An upstream that answers with the request headers it received, as JSON."""

    def do_GET(self):
        body = json.dumps({name.lower(): value for name, value in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHeaders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def echo_proxies(echo, tmp_path_factory):
    """nginx with no proxy in front (`direct`) and behind trusted ones (`behind`), before the echo."""
    runtime = tmp_path_factory.mktemp("echo-proxies")
    direct = start_nginx(runtime / "direct", echo)
    try:
        behind = start_nginx(runtime / "behind", echo, OUTER_PROXIES)
    except Exception:
        direct.stop()
        raise
    yield direct.url, behind.url
    behind.stop()
    direct.stop()


def forwarded(url, **headers):
    seen = httpx.get(url, headers={name.replace("_", "-"): value for name, value in headers.items()}).json()
    return seen["x-forwarded-for"], seen["x-real-ip"], seen["x-forwarded-proto"]


def test_without_a_trusted_proxy_a_client_can_claim_neither_an_address_nor_https(echo_proxies):
    direct, _behind = echo_proxies
    claimed = forwarded(direct, X_Forwarded_For="1.2.3.4", X_Real_IP="5.6.7.8", X_Forwarded_Proto="https")
    assert claimed == ("127.0.0.1", "127.0.0.1", "http")
    assert forwarded(direct) == ("127.0.0.1", "127.0.0.1", "http")


def test_behind_a_trusted_proxy_it_takes_the_client_and_scheme_that_proxy_names(echo_proxies):
    _direct, behind = echo_proxies
    # The outer proxy appended the client's address to whatever the client sent: the client's own
    # entries (left of it) are not believed, trusted hops (right of it) are skipped.
    assert forwarded(behind, X_Forwarded_For="1.2.3.4, 203.0.113.7", X_Forwarded_Proto="https") == (
        "203.0.113.7", "203.0.113.7", "https",
    )  # fmt: skip
    assert forwarded(behind, X_Forwarded_For="1.2.3.4, 203.0.113.7, 10.1.2.3", X_Forwarded_Proto="http")[:2] == (
        "203.0.113.7", "203.0.113.7",
    )  # fmt: skip
    assert forwarded(behind, X_Forwarded_Proto="ftp") == ("127.0.0.1", "127.0.0.1", "http")
    assert forwarded(behind) == ("127.0.0.1", "127.0.0.1", "http")


# --- Through nginx to uxlab's web process: the login lockout, the API throttle, the enrolment limit --


@pytest.fixture(scope="module")
def site(services_env, tmp_path_factory):
    """A web process (HTTPS settings on, enrolment limit 3) behind nginx `direct` and `behind`."""
    runtime = tmp_path_factory.mktemp("proxied-site")
    env = services_env | {"SECURE_PROXY_SSL_HEADER": "true", "SECURE_HSTS_SECONDS": "3600", "UXLAB_ENROL_LIMIT": "3"}
    processes = []
    try:
        web = web_server(env, runtime / "web.log")
        processes.append(web.start())
        processes.append(start_nginx(runtime / "direct", web.port))
        processes.append(start_nginx(runtime / "behind", web.port, OUTER_PROXIES))
        yield processes[1].url, processes[2].url
    finally:
        for process in reversed(processes):
            process.stop()


@pytest.fixture(autouse=True)
def _fresh_throttle():
    from uxlab.web import throttle

    throttle.reset_all()


def csrf_token(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]


def log_in(client, username, password, forwarded_for=None):
    data = {"csrfmiddlewaretoken": csrf_token(client, "/accounts/login/"), "username": username, "password": password}
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/accounts/login/", data=data, headers=headers)


@pytest.mark.django_db(transaction=True)
def test_a_spoofed_forwarded_for_does_not_escape_the_login_lockout(site, team):
    direct, _behind = site
    make_user("dora", team, "owner")
    with httpx.Client(base_url=direct) as client:
        for attempt in range(settings.UXLAB_LOGIN_MAX_FAILURES):
            assert log_in(client, "dora", "wrong-password", f"198.51.100.{attempt}").status_code == 200
        # The right password, claiming yet another address: still locked out.
        assert log_in(client, "dora", "dora-password", "198.51.100.99").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_behind_a_trusted_proxy_the_lockout_follows_the_client_that_proxy_names(site, team):
    _direct, behind = site
    make_user("dora", team, "owner")
    with httpx.Client(base_url=behind) as client:
        for attempt in range(settings.UXLAB_LOGIN_MAX_FAILURES):
            spoofed = f"192.0.2.{attempt}, 203.0.113.7"  # the client's own entry, then the proxy's
            assert log_in(client, "dora", "wrong-password", spoofed).status_code == 200
        assert log_in(client, "dora", "dora-password", "192.0.2.99, 203.0.113.7").status_code == 200
    with httpx.Client(base_url=behind) as client:
        assert log_in(client, "dora", "dora-password", "198.51.100.2").status_code == 302  # another client


@pytest.mark.django_db(transaction=True)
def test_a_spoofed_forwarded_for_does_not_escape_the_api_throttle(site, team):
    from uxlab.studies.api_tokens import create_api_token

    direct, _behind = site
    _token, secret = create_api_token(make_user("dora", team, "owner"), "tests")
    with httpx.Client(base_url=direct) as client:
        for attempt in range(settings.UXLAB_API_MAX_FAILURES):
            guess = client.get("/api/v1/studies", headers={"Authorization": "Bearer uxl_guess", "X-Forwarded-For": f"198.51.100.{attempt}"})
            assert guess.status_code == 401
        locked = client.get("/api/v1/studies", headers={"Authorization": f"Bearer {secret}", "X-Forwarded-For": "198.51.100.99"})
        assert locked.status_code == 429


@pytest.mark.django_db(transaction=True)
def test_a_spoofed_forwarded_for_does_not_escape_the_enrolment_limit(site, team):
    direct, _behind = site
    study = import_yaml(QUICK_STUDY_YAML, team)
    with httpx.Client(base_url=direct) as client:
        csrf = csrf_token(client, f"/s/{study.code}/")
        statuses = [
            client.post(f"/s/{study.code}/", data={"csrfmiddlewaretoken": csrf}, headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(4)
        ]
    assert statuses == [302, 302, 302, 429]


def test_https_counts_only_when_a_trusted_proxy_says_so(site):
    direct, behind = site
    claimed = httpx.get(f"{direct}/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert claimed.status_code == 200 and "strict-transport-security" not in claimed.headers
    proxied = httpx.get(f"{behind}/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200 and proxied.headers["strict-transport-security"] == "max-age=3600"
    assert "strict-transport-security" not in httpx.get(f"{behind}/accounts/login/").headers
