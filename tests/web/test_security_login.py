"""Login and token hardening: lockout after wrong passwords (researcher and admin login; per address
and per user name, counted by the address a proxy names), 429 after bad bearer tokens, token expiry
and scope, and no caching of the page that shows a new token."""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.conftest import QUICK_STUDY_YAML, import_yaml, make_user
from uxlab.studies.api_tokens import create_api_token
from uxlab.studies.models import ApiToken, Membership

pytestmark = pytest.mark.django_db


def attempt(client, url, username, password):
    return client.post(url, {"username": username, "password": password})


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_it_locks_a_user_out_after_repeated_wrong_passwords(client, settings, url, team):
    user = make_user("dora", team, "owner")
    user.is_staff = user.is_superuser = True  # an operator: the admin lets no one else in
    user.save()
    for _ in range(settings.UXLAB_LOGIN_MAX_FAILURES):
        assert attempt(client, url, "dora", "wrong-password").status_code == 200
    response = attempt(client, url, "dora", "dora-password")
    assert response.status_code == 200 and "_auth_user_id" not in client.session  # the right one is refused now
    # Another address is not locked out, and the counts expire.
    other = client.post(url, {"username": "dora", "password": "dora-password"}, REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 302


def test_it_locks_a_user_name_guessed_from_many_addresses(client, settings, team):
    make_user("dora", team, "owner")
    make_user("eve", team, "owner")
    url = "/accounts/login/"
    for attempt in range(settings.UXLAB_LOGIN_ACCOUNT_MAX_FAILURES):
        # Never UXLAB_LOGIN_MAX_FAILURES from one address.
        address = f"198.51.100.{attempt // (settings.UXLAB_LOGIN_MAX_FAILURES - 1)}"
        assert client.post(url, {"username": "dora", "password": "nope"}, REMOTE_ADDR=address).status_code == 200
    fresh = {"REMOTE_ADDR": "203.0.113.50"}
    assert client.post(url, {"username": "dora", "password": "dora-password"}, **fresh).status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.post(url, {"username": "eve", "password": "eve-password"}, **fresh).status_code == 302


def test_a_locked_user_name_can_log_in_again_after_the_cooldown(client, settings, team):
    """Nobody can lock a user out for good: a count is forgotten UXLAB_LOGIN_LOCKOUT_S after it began."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # quick attempts
    make_user("dora", team, "owner")
    settings.UXLAB_LOGIN_ACCOUNT_MAX_FAILURES, settings.UXLAB_LOGIN_LOCKOUT_S = 3, 2
    url = "/accounts/login/"
    for attempt in range(3):
        client.post(url, {"username": "dora", "password": "nope"}, REMOTE_ADDR=f"198.51.100.{attempt}")
    right = {"username": "dora", "password": "dora-password"}
    assert client.post(url, right, REMOTE_ADDR="203.0.113.50").status_code == 200
    time.sleep(2.1)
    assert client.post(url, right, REMOTE_ADDR="203.0.113.50").status_code == 302


def test_behind_a_proxy_it_counts_by_the_address_the_proxy_names(client, settings, team):
    """docker-compose: every request comes from the proxy's address, which names the client in X-Real-IP.
    One client's wrong passwords must not lock the user out everywhere (nor count as another client's)."""
    make_user("dora", team, "owner")
    settings.UXLAB_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    proxy = {"REMOTE_ADDR": "172.18.0.5"}
    for _ in range(settings.UXLAB_LOGIN_MAX_FAILURES):
        attempt = client.post("/accounts/login/", {"username": "dora", "password": "nope"}, HTTP_X_REAL_IP="203.0.113.7", **proxy)
        assert attempt.status_code == 200
    locked = client.post("/accounts/login/", {"username": "dora", "password": "dora-password"}, HTTP_X_REAL_IP="203.0.113.7", **proxy)
    assert locked.status_code == 200
    other = client.post("/accounts/login/", {"username": "dora", "password": "dora-password"}, HTTP_X_REAL_IP="198.51.100.2", **proxy)
    assert other.status_code == 302


def test_behind_a_proxy_the_api_throttle_counts_by_the_address_the_proxy_names(client, settings, tokens):
    settings.UXLAB_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    url = reverse("web:api_studies")
    proxy = {"REMOTE_ADDR": "172.18.0.5"}
    for _ in range(settings.UXLAB_API_MAX_FAILURES):
        assert client.get(url, HTTP_AUTHORIZATION="Bearer uxl_guess", HTTP_X_REAL_IP="203.0.113.7", **proxy).status_code == 401
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['alice']}", **proxy}
    assert client.get(url, HTTP_X_REAL_IP="203.0.113.7", **auth).status_code == 429
    assert client.get(url, HTTP_X_REAL_IP="198.51.100.2", **auth).status_code == 200


def test_a_successful_login_below_the_limit_clears_the_count(client, settings, team):
    make_user("eve", team, "owner")
    for _ in range(settings.UXLAB_LOGIN_MAX_FAILURES - 1):
        attempt(client, "/accounts/login/", "eve", "nope")
    assert attempt(client, "/accounts/login/", "eve", "eve-password").status_code == 302
    client.logout()
    for _ in range(settings.UXLAB_LOGIN_MAX_FAILURES - 1):
        attempt(client, "/accounts/login/", "eve", "nope")
    assert attempt(client, "/accounts/login/", "eve", "eve-password").status_code == 302


def test_it_answers_429_after_repeated_bad_bearer_tokens(client, settings, tokens):
    url = reverse("web:api_studies")
    for _ in range(settings.UXLAB_API_MAX_FAILURES):
        assert client.get(url, HTTP_AUTHORIZATION="Bearer uxl_guess").status_code == 401
    locked = client.get(url, HTTP_AUTHORIZATION=f"Bearer {tokens['alice']}")
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "too_many_attempts"
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {tokens['alice']}", REMOTE_ADDR="203.0.113.9").status_code == 200


def test_an_expired_token_is_refused(client, alice, study):
    token, secret = create_api_token(alice, "old", days=30)
    url = reverse("web:api_studies")
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert token.expires_at - token.created_at == timedelta(days=30)


def test_a_token_scoped_to_one_study_reads_only_that_study(client, alice, study, team):
    other = import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: other"), team)
    _token, secret = create_api_token(alice, "one study", study=study)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    listed = client.get(reverse("web:api_studies"), **auth).json()["studies"]
    assert [s["code"] for s in listed] == [study.code]
    assert client.get(reverse("web:api_study", args=[study.code]), **auth).status_code == 200
    assert client.get(reverse("web:api_study", args=[other.code]), **auth).status_code == 404
    assert client.get(reverse("web:api_export", args=[other.code, "ratings"]), **auth).status_code == 404


def test_a_token_scoped_to_a_team_reads_only_that_teams_studies(client, alice, study, team, other_team):
    Membership.objects.create(team=other_team, user=alice, role="owner")
    theirs = import_yaml(QUICK_STUDY_YAML.replace("code: quick", "code: theirs"), other_team)
    _token, secret = create_api_token(alice, "team", team=team)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert [s["code"] for s in client.get(reverse("web:api_studies"), **auth).json()["studies"]] == [study.code]
    assert client.get(reverse("web:api_study", args=[theirs.code]), **auth).status_code == 404
    _token, everything = create_api_token(alice, "all")
    listed = client.get(reverse("web:api_studies"), HTTP_AUTHORIZATION=f"Bearer {everything}").json()["studies"]
    assert sorted(s["code"] for s in listed) == sorted([study.code, theirs.code])


def test_the_token_page_creates_scoped_expiring_tokens_and_is_never_cached(client, alice, study):
    client.force_login(alice)
    response = client.post(reverse("web:api_tokens"), {"name": "nb", "scope": f"study:{study.code}", "days": "30"})
    assert response.status_code == 200 and b'id="new-token"' in response.content
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(name="nb")
    assert token.study == study and token.expires_at > timezone.now() + timedelta(days=29)
    assert client.post(reverse("web:api_tokens"), {"name": "x", "scope": "study:nope", "days": "30"}).status_code == 404
    assert client.post(reverse("web:api_tokens"), {"name": "x", "scope": "", "days": "9999"}).status_code == 404


def test_an_outsider_cannot_scope_a_token_to_someone_elses_study(client, charlie, study):
    client.force_login(charlie)
    assert client.post(reverse("web:api_tokens"), {"name": "x", "scope": f"study:{study.code}", "days": "30"}).status_code == 404
    assert not ApiToken.objects.filter(user=charlie).exists()
