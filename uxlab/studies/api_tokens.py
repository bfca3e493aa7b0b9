"""Per-user API tokens: created and revoked in the UI, stored only as a SHA-256 hash; read-only,
expiring, and scoped to one team, one study, or every study the user can see."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from uxlab.studies.models import ApiToken

TOKEN_PREFIX = "uxl_"


def hash_token(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(user, name, *, team=None, study=None, days=None):
    """A new token for this user; returns (token, secret). The secret is not kept anywhere.
    ``days``: its lifetime (default UXLAB_API_TOKEN_DAYS); ``team``/``study``: its scope."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    days = settings.UXLAB_API_TOKEN_DAYS if days is None else days
    now = timezone.now()
    token = ApiToken.objects.create(user=user, name=name[:100] or "API token", prefix=secret[:10],
                                    token_hash=hash_token(secret), created_at=now, expires_at=now + timedelta(days=days),
                                    team=team, study=study)
    return token, secret


def revoke_api_token(user, token_id):
    """Revoke one of the user's own tokens; returns whether one was revoked."""
    return bool(
        ApiToken.objects.active().filter(user=user, pk=token_id).update(revoked_at=timezone.now())
    )


def token_for_secret(secret):
    """The active (unrevoked, unexpired) token of an active user behind a presented secret, or None."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = ApiToken.objects.active().select_related("user").filter(token_hash=hash_token(secret)).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def user_for_token(secret):
    """The active user behind a presented secret, or None."""
    token = token_for_secret(secret)
    return token.user if token else None
