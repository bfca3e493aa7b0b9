"""Failed-attempt throttling for logins (/accounts/login/, /admin/login/), API bearer tokens and
team invitation links, and the client address every per-client limit counts by (the enrolment
limit's too).

Counts live in Django's cache, which is Redis whenever REDIS_URL is set, so every web process sees
the same counts. A count starts with its first failure and is forgotten ``UXLAB_LOGIN_LOCKOUT_S``
later. Logins are locked (the right password refused too) after ``UXLAB_LOGIN_MAX_FAILURES`` wrong
passwords for one user name from one address, and after ``UXLAB_LOGIN_ACCOUNT_MAX_FAILURES`` for one
user name from any addresses (guessing from many addresses); after ``UXLAB_API_MAX_FAILURES`` bad
tokens from one address, the API answers 429; after ``UXLAB_INVITE_MAX_ATTEMPTS`` attempts on
invitation links from one address (every join or sign-up posted, every unknown link opened), those
links answer 429.
"""

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

GENERATION_KEY = "uxlab:throttle:generation"


def client_address(request):
    """The client's address: the last entry of the ``UXLAB_CLIENT_IP_HEADER`` header when that is
    set (docker-compose: X-Real-IP, which uxlab's nginx overwrites), else the connection's, which
    uvicorn takes from the X-Forwarded-For of uxlab's nginx on loopback (docs/deployment.md)."""
    address = request.META.get("REMOTE_ADDR", "")
    if settings.UXLAB_CLIENT_IP_HEADER:
        forwarded = request.META.get(settings.UXLAB_CLIENT_IP_HEADER, "")
        address = forwarded.split(",")[-1].strip() or address
    return address or "unknown"


def _key(kind, ident):
    generation = cache.get_or_set(GENERATION_KEY, 0, None)
    return f"uxlab:throttle:{generation}:{kind}:{hashlib.sha256(ident.encode()).hexdigest()}"


def is_locked(kind, ident, limit):
    return (cache.get(_key(kind, ident)) or 0) >= limit


def record_failure(kind, ident):
    key = _key(kind, ident)
    cache.add(key, 0, settings.UXLAB_LOGIN_LOCKOUT_S)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, settings.UXLAB_LOGIN_LOCKOUT_S)


def clear(kind, ident):
    cache.delete(_key(kind, ident))


def reset_all():
    """Forget every count (tests): the keys move to a new generation and the old ones expire."""
    cache.add(GENERATION_KEY, 0, None)
    cache.incr(GENERATION_KEY)


def account_ident(username):
    return (username or "").strip().lower()


def login_ident(request, username):
    return f"{account_ident(username)}|{client_address(request)}"


def login_locked(request, username):
    return is_locked("login", login_ident(request, username), settings.UXLAB_LOGIN_MAX_FAILURES) or is_locked(
        "account", account_ident(username), settings.UXLAB_LOGIN_ACCOUNT_MAX_FAILURES
    )


class ThrottledModelBackend(ModelBackend):
    """Django's model backend with a lockout after repeated wrong passwords. Only requests are
    throttled (the login pages, the admin's); management commands and tests' ``client.login`` are not."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        if username is None:
            username = kwargs.get(self._username_field(), "")
        if login_locked(request, username):
            raise PermissionDenied("too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure("login", login_ident(request, username))
            record_failure("account", account_ident(username))
        else:
            # Only this address's count: the account's runs out with its window, so an attacker
            # guessing from elsewhere gains nothing from the owner's logins.
            clear("login", login_ident(request, username))
        return user

    @staticmethod
    def _username_field():
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD


def api_locked(request):
    return is_locked("api", client_address(request), settings.UXLAB_API_MAX_FAILURES)


def record_api_failure(request):
    record_failure("api", client_address(request))


def invite_locked(request):
    return is_locked("invite", client_address(request), settings.UXLAB_INVITE_MAX_ATTEMPTS)


def record_invite_attempt(request):
    record_failure("invite", client_address(request))
