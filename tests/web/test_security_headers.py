"""Deployment headers: `check --deploy` is clean with the HTTPS variables set, and every page kind
carries the Content-Security-Policy."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import get_resolver, reverse

from uxlab.studies import actions

ROOT = Path(__file__).resolve().parents[2]
HTTPS_ENV = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "uxlab.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://uxlab.example.org",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_PROXY_SSL_HEADER": "true",
    "UXLAB_TRUSTED_PROXIES": "127.0.0.1",
}


def run_check(**env):
    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=full, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.services
def test_it_passes_the_deploy_check_with_the_https_variables_set():
    result = run_check(SECRET_KEY=secrets.token_urlsafe(50), **HTTPS_ENV)
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.mark.services
def test_it_fails_the_deploy_check_without_them():
    result = run_check(SECRET_KEY=secrets.token_urlsafe(50), DEBUG="false")
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


@pytest.mark.services
def test_it_warns_when_the_proxy_in_front_is_not_trusted():
    """Behind a TLS-terminating proxy that uxlab's nginx does not trust, https requests would look
    like http (SECURE_SSL_REDIRECT's redirect loop) and every client would have the proxy's address."""
    result = run_check(SECRET_KEY=secrets.token_urlsafe(50), **{**HTTPS_ENV, "UXLAB_TRUSTED_PROXIES": ""})
    assert result.returncode != 0 and "uxlab.W001" in result.stderr and "UXLAB_TRUSTED_PROXIES" in result.stderr


@pytest.mark.services
def test_it_rejects_a_malformed_https_variable():
    result = run_check(SECRET_KEY=secrets.token_urlsafe(50), **{**HTTPS_ENV, "SECURE_HSTS_SECONDS": "a year"})
    assert result.returncode != 0 and "SECURE_HSTS_SECONDS must be an integer" in result.stderr
    result = run_check(SECRET_KEY=secrets.token_urlsafe(50), **{**HTTPS_ENV, "UXLAB_TRUSTED_PROXIES": "proxy.example.org"})
    assert result.returncode != 0
    assert "UXLAB_TRUSTED_PROXIES must list IP addresses or networks, not 'proxy.example.org'" in result.stderr


# A value for every URL parameter of uxlab.web.urls; a new parameter fails the test until it is here.
def url_values(study, participant, token_id):
    return {"code": study.code, "token": participant.token, "question": "comment", "table": "ratings",
            "fmt": "csv", "token_id": token_id, "slug": study.team.slug, "username": "nobody-here",
            "key": "7d3f5a52-1c1e-4b8d-9d87-2f6f3b0f7b11", "secret": "no-such-invite", "index": 0,
            "name": "arms", "change": "up", "action": "pause"}


def page_urls(study, participant, token_id):
    """Every page of uxlab.web.urls (each URL pattern, filled in), the project's own routes and the admin."""
    values = url_values(study, participant, token_id)
    urls = []
    for pattern in get_resolver("uxlab.web.urls").url_patterns:
        names = list(pattern.pattern.converters)
        missing = [name for name in names if name not in values]
        assert not missing, f"give test_security_headers a value for {missing} ({pattern.name})"
        urls.append(reverse(f"web:{pattern.name}", kwargs={name: values[name] for name in names}))
    return urls + ["/accounts/login/", "/accounts/logout/", "/admin/login/", "/admin/", "/no-such-page/",
                   f"/p/{participant.token}/withdraw/"]


def assert_policy_everywhere(client, urls, method="get"):
    missing, failed = [], []
    for url in urls:
        response = getattr(client, method)(url)
        if response.headers.get("Content-Security-Policy") != settings.UXLAB_CSP:
            missing.append((url, response.status_code))
        if response.status_code >= 500:
            failed.append(url)
    assert not missing, missing
    assert not failed, failed  # an empty or unexpected request is a 4xx, never a server error


@pytest.mark.django_db
def test_it_sends_the_content_security_policy_on_every_page(client, rated_study, alice):
    from uxlab.studies.api_tokens import create_api_token

    participant = actions.give_consent(actions.enroll_participant(rated_study))
    token, _secret = create_api_token(alice, "csp")
    client.force_login(alice)
    urls = page_urls(rated_study, participant, token.pk)
    assert len(urls) >= len(get_resolver("uxlab.web.urls").url_patterns)
    assert_policy_everywhere(client, urls)
    assert_policy_everywhere(client, urls, "post")  # forms, refusals (405) and redirects too
    # A withdrawn participant's pages and an operator's admin pages, as they are then.
    actions.withdraw_participant(participant, "participant")
    alice.is_superuser = True
    alice.save()
    assert_policy_everywhere(client, urls + ["/admin/studies/study/", "/admin/studies/participant/"])
    policy = settings.UXLAB_CSP
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
