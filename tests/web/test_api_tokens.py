"""API tokens: created and revoked in the UI, shown once, stored only as a hash."""

import hashlib

import pytest
from django.urls import reverse

from uxlab.studies.models import ApiToken

pytestmark = pytest.mark.django_db


def create_token(client, name="notebook"):
    page = client.post(reverse("web:api_tokens"), {"name": name}).content.decode()
    start = page.index('<code id="new-token">') + len('<code id="new-token">')
    return page[start : page.index("</code>", start)]


def test_it_shows_a_new_token_once_and_stores_only_its_hash(client, alice):
    client.force_login(alice)
    secret = create_token(client)
    token = ApiToken.objects.get(user=alice)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(list(ApiToken.objects.values_list()))
    listing = client.get(reverse("web:api_tokens")).content.decode()
    assert secret not in listing and token.prefix in listing
    response = client.get(reverse("web:api_studies"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_it_refuses_a_revoked_token(client, alice, study):
    client.force_login(alice)
    secret = create_token(client)
    token = ApiToken.objects.get(user=alice)
    assert client.post(reverse("web:revoke_token", args=[token.pk])).status_code == 302
    response = client.get(reverse("web:api_studies"), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_it_lets_nobody_revoke_another_users_token(client, alice, charlie):
    client.force_login(alice)
    create_token(client)
    token = ApiToken.objects.get(user=alice)
    client.force_login(charlie)
    assert client.post(reverse("web:revoke_token", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.is_active


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer uxl_wrong", "Basic dXNlcjpwYXNz", "Token x" * 100])
def test_it_answers_bad_credentials_with_401(client, header):
    response = client.get(reverse("web:api_studies"), HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
