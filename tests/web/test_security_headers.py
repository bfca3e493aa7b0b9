"""Deployment headers: `check --deploy` is clean with the HTTPS variables set, and every page kind
carries the Content-Security-Policy."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

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
def test_it_rejects_a_malformed_https_variable():
    result = run_check(SECRET_KEY=secrets.token_urlsafe(50), **{**HTTPS_ENV, "SECURE_HSTS_SECONDS": "a year"})
    assert result.returncode != 0 and "SECURE_HSTS_SECONDS must be an integer" in result.stderr


def page_urls(study, token):
    code = study.code
    return [
        "/accounts/login/", "/admin/login/", "/", "/studies/", f"/studies/{code}/", f"/studies/{code}/monitor/",
        f"/studies/{code}/results/", f"/studies/{code}/fidelity/", f"/studies/{code}/ratings.csv",
        f"/studies/{code}/data/ratings.csv", "/account/tokens/", "/api/v1/openapi.json", "/api/v1/studies",
        f"/s/{code}/", f"/p/{token}/", f"/p/{token}/checks/", f"/p/{token}/consent/", f"/p/{token}/instructions/",
        f"/p/{token}/trial/", f"/p/{token}/done/", "/no-such-page/", "/admin/",
    ]


@pytest.mark.django_db
def test_it_sends_the_content_security_policy_on_every_page_kind(client, study, alice):
    participant = actions.give_consent(actions.enroll_participant(study))
    client.force_login(alice)
    missing = []
    for url in page_urls(study, participant.token):
        response = client.get(url)
        if response.headers.get("Content-Security-Policy") != settings.UXLAB_CSP:
            missing.append((url, response.status_code))
    assert not missing, missing
    policy = settings.UXLAB_CSP
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
