"""The suite's settings: uxlab's own, but under pytest-xdist (`make test-fast` runs the suite in two
worker processes) each worker has a Redis database, static and media folders of its own, as
pytest-django gives each one a database of its own (test_uxlab_gw0, test_uxlab_gw1, ...). Channel
group names such as `participant.<id>` repeat across the workers' databases, so a shared Redis would
cross their messages; two workers collecting static files into one folder delete each other's files.

Worker gwN uses the database REDIS_URL names minus N (15, 14, ... with `make test`'s settings) and
var/static-gwN, var/media-gwN. They are set in the environment, before uxlab's settings read it, so
the servers and workers a test starts inherit them; the base is kept so that a child importing these
settings again does not move them twice.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
BASE_KEY = "UXLAB_TEST_REDIS_BASE"


def worker_redis_url(url, worker):
    """`url` with its database number lowered by the worker's index (gw0 keeps it)."""
    parts = urlsplit(url)
    database = int(parts.path.lstrip("/") or 0) - int(worker.removeprefix("gw"))
    if database < 0:
        raise RuntimeError(f"too many xdist workers for the Redis database in {url}")
    return urlunsplit(parts._replace(path=f"/{database}"))


def isolate_worker(environ):
    worker = environ.get("PYTEST_XDIST_WORKER")
    if not worker or BASE_KEY in environ:
        return
    for name in ("STATIC_ROOT", "MEDIA_ROOT"):
        environ.setdefault(name, str(REPO / "var" / f"{name.split('_')[0].lower()}-{worker}"))
    base = environ[BASE_KEY] = environ.get("REDIS_URL", "")
    if not base:
        return
    environ["REDIS_URL"] = worker_redis_url(base, worker)
    if environ.get("CELERY_BROKER_URL") == base:
        environ["CELERY_BROKER_URL"] = environ["REDIS_URL"]


isolate_worker(os.environ)

from uxlab.settings import *  # noqa: E402, F403

# Django's own advice for test speed: a fast password hasher. Each user the fixtures make (alice,
# bob, charlie in most researcher tests) otherwise costs a full PBKDF2 hash, about 0.4 s here. The
# servers and workers a test starts import these settings too, so they verify the same hashes.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Transactional tests flush the database with DELETE, not TRUNCATE (tests/database_backend/base.py).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"]["ENGINE"] = "tests.database_backend"  # noqa: F405
