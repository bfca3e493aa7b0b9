"""Failed-attempt throttling for logins (/accounts/login/, /admin/login/), API bearer tokens and
team invitation links.

Counts live in Django's cache, which is Redis whenever REDIS_URL is set, so every web process sees
the same counts. After ``UXLAB_LOGIN_MAX_FAILURES`` wrong passwords for one user name from one
address, that pair is locked for ``UXLAB_LOGIN_LOCKOUT_S`` (the right password is refused too);
after ``UXLAB_API_MAX_FAILURES`` bad tokens from one address, the API answers 429 for as long;
after ``UXLAB_INVITE_MAX_ATTEMPTS`` attempts on invitation links from one address (every join or
sign-up posted, every unknown link opened), those links answer 429 for as long.
"""

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

GENERATION_KEY = "uxlab:throttle:generation"


def client_address(request):
    """The connecting address (the proxy's, behind one: then the lockout is per user name)."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


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


def login_ident(request, username):
    return f"{(username or '').strip().lower()}|{client_address(request)}"


class ThrottledModelBackend(ModelBackend):
    """Django's model backend with a lockout after repeated wrong passwords. Only requests are
    throttled (the login pages, the admin's); management commands and tests' ``client.login`` are not."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        if username is None:
            username = kwargs.get(self._username_field(), "")
        ident = login_ident(request, username)
        if is_locked("login", ident, settings.UXLAB_LOGIN_MAX_FAILURES):
            record_failure("login", ident)
            raise PermissionDenied("too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure("login", ident)
        else:
            clear("login", ident)
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
