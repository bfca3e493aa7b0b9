"""Settings for uxlab, read from the environment (see .env.example).

Unset DATABASE_URL / REDIS_URL selects the embedded default for a single-machine pilot:
SQLite, the in-memory channel layer and Celery tasks executed in-process.
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from uxlab.live.redis_connection import CancellableConnection

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=None):
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name, default=False):
    value = env_str(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name, default):
    value = env_str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_float(name, default):
    value = env_str(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_list(name, default):
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required unless DEBUG=true")
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # The admin, for operators (superusers) only: it is not team-scoped.
    "uxlab.studies.apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "uxlab.studies",
    "uxlab.web",
    "uxlab.benchmarks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A NUL character in the path, query or form is a 400 before any view or the database sees it.
    "uxlab.web.middleware.RejectNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "uxlab.web.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "uxlab.urls"
ASGI_APPLICATION = "uxlab.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL (Postgres in tests and deployments) or the embedded SQLite file.
DATABASE_URL = env_str("DATABASE_URL")
# A pool of Postgres connections per process (psycopg's, through Django's `pool` option): a request
# or websocket call borrows one and gives it back, so a process never holds more than
# DB_POOL_MAX_SIZE, however many requests and sockets it serves (docs/deployment.md sizes it).
# DB_POOL_MAX_SIZE=0 turns the pool off for persistent per-thread connections (DB_CONN_MAX_AGE).
DB_POOL_MIN_SIZE = env_int("DB_POOL_MIN_SIZE", 2)
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
DB_POOL_TIMEOUT_S = env_float("DB_POOL_TIMEOUT_S", 10.0)
# Seconds a persistent connection is kept: without a pool, and in Celery worker processes, which
# run one task at a time and so keep one connection each instead of a pool (uxlab/celery.py).
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60)
# A statement a connection has run this many times is prepared on the server (0: never).
DB_PREPARE_THRESHOLD = env_int("DB_PREPARE_THRESHOLD", 2)
if DB_POOL_MAX_SIZE < 0 or DB_POOL_MIN_SIZE < 0 or DB_PREPARE_THRESHOLD < 0:
    raise ImproperlyConfigured("DB_POOL_MAX_SIZE, DB_POOL_MIN_SIZE and DB_PREPARE_THRESHOLD must not be negative")
if DATABASE_URL:
    if DB_POOL_MAX_SIZE:
        # Checked before each loan, so a connection killed meanwhile is replaced, not handed out.
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(DB_POOL_MIN_SIZE, DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT_S,
            # Connections a burst opened beyond min_size are closed after a minute unused.
            "max_idle": 60.0,
        }
    else:
        # Persistent connections (checked before reuse, so a killed connection is replaced).
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True
            )
        }
    if DB_PREPARE_THRESHOLD:
        # Parameters go to the server apart from the statement (psycopg's server-side binding), and
        # a statement a connection has run DB_PREPARE_THRESHOLD times is prepared (from its next
        # run on): Postgres plans it once per connection, not on every call. One statement then
        # takes at most 65,535 parameters (studies/raw_sql.py in_chunks splits the id lists that grow). Planning was the largest part of the server's
        # CPU in bench_sessions (pg_stat_statements: 9.3 s of planning against ~7 s of execution
        # for 500 sessions; a trial start's statement took 1.4 ms to plan, 0.4 ms to run).
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=DB_PREPARE_THRESHOLD
        )
else:
    SQLITE_PATH = Path(env_str("SQLITE_PATH", str(BASE_DIR / "var" / "uxlab.sqlite3")))
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
EMBEDDED_DEFAULT = not DATABASE_URL
# Threads a web process runs its sockets' database calls in (live/runtime.py): half the pool by
# default; one on the embedded default's SQLite file, which takes one writer at a time anyway.
UXLAB_SOCKET_DB_THREADS = env_int(
    "UXLAB_SOCKET_DB_THREADS", max(1, DB_POOL_MAX_SIZE // 2) if DATABASE_URL and DB_POOL_MAX_SIZE else 1
)
if UXLAB_SOCKET_DB_THREADS < 1:
    raise ImproperlyConfigured("UXLAB_SOCKET_DB_THREADS must be at least 1")
# Threads a web process runs its page requests in (uxlab/web/handler.py): by default the rest of the
# pool, so page requests and socket calls together never wait for a connection.
UXLAB_HTTP_THREADS = env_int(
    "UXLAB_HTTP_THREADS", max(2, DB_POOL_MAX_SIZE - UXLAB_SOCKET_DB_THREADS) if DATABASE_URL and DB_POOL_MAX_SIZE else 4
)
if UXLAB_HTTP_THREADS < 1:
    raise ImproperlyConfigured("UXLAB_HTTP_THREADS must be at least 1")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: Redis when REDIS_URL is set, otherwise in-process memory (one web process only).
REDIS_URL = env_str("REDIS_URL")
# The web processes' asyncio Redis clients (channel layer, socket registry, stream relay, in-flight
# slots) send under asyncio.timeout, not redis-py's asyncio.wait_for, which on Python 3.11 can lose
# a cancellation (uxlab/live/redis_connection.py). A command fails after 15 s without an answer:
# more than channels-redis's 5 s blocking pop, which redis-py 8's default of 5 s would race.
REDIS_ASYNC_OPTIONS = {
    "connection_class": CancellableConnection,
    "socket_timeout": 15,
    "socket_connect_timeout": 5,
}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Every socket's group_add/discard borrows a connection: a thousand participants leaving
            # at once must not hit the pool's limit.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, **REDIS_ASYNC_OPTIONS, "max_connections": 2000}],
                "capacity": 1500,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery: a broker URL (Redis or RabbitMQ) or, with neither set, tasks run in-process.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The queue tasks go to and workers read; a test gives a dedicated web server and worker their own.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
# Beat: end sessions past their study's time limit or abandoned, releasing their quota slots; erase
# the panel ids (PROLIFIC_PID) of sessions that ended more than UXLAB_PANEL_ID_RETENTION_DAYS ago
# (0 keeps them; docs/deployment.md "Withdrawal and retention").
UXLAB_PANEL_ID_RETENTION_DAYS = env_int("UXLAB_PANEL_ID_RETENTION_DAYS", 90)
if UXLAB_PANEL_ID_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("UXLAB_PANEL_ID_RETENTION_DAYS must be >= 0 (0 keeps panel ids)")
CELERY_BEAT_SCHEDULE = {
    "expire-sessions": {
        "task": "uxlab.studies.tasks.expire_sessions",
        "schedule": env_float("UXLAB_EXPIRE_SESSIONS_EVERY_S", 60.0),
    },
    # Background jobs' files past UXLAB_JOB_FILES_DAYS (and jobs a lost worker left running).
    "delete-old-job-files": {"task": "uxlab.studies.tasks.delete_old_job_files", "schedule": 3600.0},
    "erase-panel-ids": {
        "task": "uxlab.studies.tasks.erase_panel_ids",
        "schedule": env_float("UXLAB_ERASE_PANEL_IDS_EVERY_S", 3600.0),
    },
}
# A worker that loses the broker cancels its acks_late tasks (their acks could not reach the broker
# anyway); they are redelivered, and the idempotent writes make the second run harmless.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Celery's Django fixup closes the database connection after every task unless told to reuse it:
# a new connection per batch of answers costs more than storing the batch.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
# Storing answers (studies/tasks.py): bounded attempts with exponential backoff and full jitter,
# then a dead-letter record (FailedTask). docs/reliability.md explains the numbers.
UXLAB_STORE_MAX_ATTEMPTS = env_int("UXLAB_STORE_MAX_ATTEMPTS", 8)
UXLAB_STORE_RETRY_BASE_S = env_float("UXLAB_STORE_RETRY_BASE_S", 0.5)
UXLAB_STORE_RETRY_CAP_S = env_float("UXLAB_STORE_RETRY_CAP_S", 60.0)
# Longer than any task plus its longest retry countdown, so Redis never redelivers a running task.
BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
if BROKER_VISIBILITY_TIMEOUT <= 2 * UXLAB_STORE_RETRY_CAP_S + 60:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must exceed twice UXLAB_STORE_RETRY_CAP_S plus 60 s")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
if (CELERY_BROKER_URL or "").startswith(("redis://", "rediss://", "unix://")):
    # Without a socket timeout a publish to a hung (not closed) Redis waits forever.
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "socket_timeout": env_float("CELERY_BROKER_SOCKET_TIMEOUT", 5.0),
        "socket_connect_timeout": env_float("CELERY_BROKER_SOCKET_TIMEOUT", 5.0),
    }
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
# How long a consumer waits for the broker to accept a rating before telling the browser to retry.
UXLAB_PUBLISH_TIMEOUT_S = env_float("UXLAB_PUBLISH_TIMEOUT_S", 3.0)
# A web process gathers the answers of all its sockets for at most this long (or this many) and
# publishes them as one task: one broker message and one transaction per batch, not per answer.
UXLAB_RATING_BATCH_WAIT_MS = env_float("UXLAB_RATING_BATCH_WAIT_MS", 25.0)
UXLAB_RATING_BATCH_MAX = env_int("UXLAB_RATING_BATCH_MAX", 500)

# Hostile participants (docs/reliability.md): at most UXLAB_ENROL_LIMIT new participants per client
# (a keyed hash of its address, never stored or logged) per UXLAB_ENROL_WINDOW_S; 0 turns it off.
UXLAB_ENROL_LIMIT = env_int("UXLAB_ENROL_LIMIT", 20)
UXLAB_ENROL_WINDOW_S = env_int("UXLAB_ENROL_WINDOW_S", 600)
# The request header holding the client's address, as uxlab's nginx sets it (its last entry is
# used): docker-compose sets HTTP_X_REAL_IP. Empty means the connection's address, which uvicorn
# takes from nginx's X-Forwarded-For on loopback (`manage.py serve`). Set it only where nothing
# but that nginx reaches the web processes, or a client can name any address (docs/deployment.md).
UXLAB_CLIENT_IP_HEADER = env_str("UXLAB_CLIENT_IP_HEADER", "")
# The proxies in front of uxlab's nginx (a TLS-terminating one, a load balancer), as addresses or
# networks: only their X-Forwarded-For and X-Forwarded-Proto are believed. Empty: none.
UXLAB_TRUSTED_PROXIES = env_list("UXLAB_TRUSTED_PROXIES", [])
for _proxy in UXLAB_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"UXLAB_TRUSTED_PROXIES must list IP addresses or networks, not {_proxy!r}") from None
# A participant who reserved cells (reached the trial page) but started no trial within this many
# seconds has the cells released by the expiry task (and is reassigned on return).
UXLAB_RELEASE_UNSTARTED_AFTER_S = env_int("UXLAB_RELEASE_UNSTARTED_AFTER_S", 300)
# How long a participant's browser keeps the signed cookie that lets it resume from the panel link.
UXLAB_RESUME_COOKIE_MAX_AGE_S = env_int("UXLAB_RESUME_COOKIE_MAX_AGE_S", 7 * 24 * 3600)
if UXLAB_ENROL_WINDOW_S < 1 or min(UXLAB_ENROL_LIMIT, UXLAB_RELEASE_UNSTARTED_AFTER_S, UXLAB_RESUME_COOKIE_MAX_AGE_S) < 0:
    raise ImproperlyConfigured("UXLAB_ENROL_WINDOW_S must be >= 1 and the other UXLAB_ENROL_*, UXLAB_RELEASE_*, UXLAB_RESUME_* >= 0")

# Per-participant limits of the participant websocket (docs/reliability.md, "Websocket limits").
# Open sockets per participant across web processes (counted in Redis; per process without it).
# Every HTTP request body (uxlab/web/body_limit.py): a study file of 2,000,000 characters fits.
UXLAB_MAX_REQUEST_BYTES = env_int("UXLAB_MAX_REQUEST_BYTES", 8 * 1024 * 1024)
UXLAB_WS_SOCKETS_PER_PARTICIPANT = env_int("UXLAB_WS_SOCKETS_PER_PARTICIPANT", 4)
# Frames per socket: a bucket of this many, refilled at this rate; frames past it are refused
# (`rate_limited`), and the socket is closed once this many have been refused.
UXLAB_WS_FRAME_BURST = env_int("UXLAB_WS_FRAME_BURST", 100)
UXLAB_WS_FRAMES_PER_S = env_float("UXLAB_WS_FRAMES_PER_S", 20.0)
UXLAB_WS_REFUSED_FRAMES_MAX = env_int("UXLAB_WS_REFUSED_FRAMES_MAX", 200)
# Bytes per participant and web process, the same way: a telemetry flood is bounded by its size,
# not only by its count (a real page sends a few hundred KiB a trial at most).
UXLAB_WS_BYTES_BURST = env_int("UXLAB_WS_BYTES_BURST", 4 * 1024 * 1024)
UXLAB_WS_BYTES_PER_S = env_int("UXLAB_WS_BYTES_PER_S", 128 * 1024)
# RatingConflict rows kept per participant; later conflicting resends are confirmed, not kept.
UXLAB_RATING_CONFLICTS_MAX = env_int("UXLAB_RATING_CONFLICTS_MAX", 50)
# Telemetry kept per trial beyond its first batch (bytes of JSON).
UXLAB_TELEMETRY_BYTES_PER_TRIAL = env_int("UXLAB_TELEMETRY_BYTES_PER_TRIAL", 2 * 1024 * 1024)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login and API throttling (uxlab/web/throttle.py); the counts live in CACHES below.
AUTHENTICATION_BACKENDS = ["uxlab.web.throttle.ThrottledModelBackend"]
UXLAB_LOGIN_MAX_FAILURES = env_int("UXLAB_LOGIN_MAX_FAILURES", 5)
UXLAB_LOGIN_ACCOUNT_MAX_FAILURES = env_int("UXLAB_LOGIN_ACCOUNT_MAX_FAILURES", 20)
UXLAB_LOGIN_LOCKOUT_S = env_int("UXLAB_LOGIN_LOCKOUT_S", 900)
if min(UXLAB_LOGIN_MAX_FAILURES, UXLAB_LOGIN_ACCOUNT_MAX_FAILURES, UXLAB_LOGIN_LOCKOUT_S) < 1:
    raise ImproperlyConfigured("UXLAB_LOGIN_MAX_FAILURES, UXLAB_LOGIN_ACCOUNT_MAX_FAILURES and UXLAB_LOGIN_LOCKOUT_S must be >= 1")
UXLAB_API_MAX_FAILURES = env_int("UXLAB_API_MAX_FAILURES", 20)
# Attempts on team invitation links from one address (joins and sign-ups posted, unknown links
# opened) before they answer 429 for UXLAB_LOGIN_LOCKOUT_S.
UXLAB_INVITE_MAX_ATTEMPTS = env_int("UXLAB_INVITE_MAX_ATTEMPTS", 10)
# New API tokens expire after this many days.
UXLAB_API_TOKEN_DAYS = env_int("UXLAB_API_TOKEN_DAYS", 90)
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "uxlab-cache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
LOGIN_URL = "login"
# Login lands on the first-run page, which shows your studies when you have any (web/views_workspace.py).
LOGIN_REDIRECT_URL = "web:start"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [BASE_DIR / "uxlab" / "static"]
# Static files: WhiteNoise serves what `collectstatic` wrote, under hashed names cached for a year
# (`manage.py serve` and the image build run collectstatic); with DEBUG, straight from the sources.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "uxlab.web.static_storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Files workers write for researchers (large exports): on disk here, never served directly, only
# through a download view that checks the study's team (web/views_jobs.py). Web and worker processes
# must share it (docker-compose mounts one volume in both).
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
# An export of a study with more ratings than this runs as a background job with a progress bar on
# the results page; smaller ones stream at once (the streamed downloads stay available to scripts).
UXLAB_EXPORT_STREAM_MAX_ROWS = env_int("UXLAB_EXPORT_STREAM_MAX_ROWS", 50_000)
# Days a background job's file is kept before beat deletes it.
UXLAB_JOB_FILES_DAYS = env_int("UXLAB_JOB_FILES_DAYS", 7)
# Team invitations: days an invitation link stays valid.
UXLAB_INVITE_DAYS = env_int("UXLAB_INVITE_DAYS", 7)
if min(UXLAB_EXPORT_STREAM_MAX_ROWS, UXLAB_JOB_FILES_DAYS) < 0 or UXLAB_INVITE_DAYS < 1:
    raise ImproperlyConfigured("UXLAB_EXPORT_STREAM_MAX_ROWS and UXLAB_JOB_FILES_DAYS must be >= 0, UXLAB_INVITE_DAYS >= 1")
# Email (team invitations): printed to the console unless an SMTP server is configured; the invite
# page shows the link too, so no mail server is needed.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "uxlab <uxlab@localhost>")

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Deployment security (docs/deployment.md "HTTPS behind a proxy") ---------------------------
# All off by default so `make demo` works over plain http; a public deployment sets them.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# "true" trusts X-Forwarded-Proto: uxlab's nginx overwrites it, passing on only the value a proxy in
# UXLAB_TRUSTED_PROXIES sent (uxlab/web/checks.py warns when that list is empty).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER", False) else None
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response (uxlab/web/csp.py): scripts only from our own static
# files (templates have no inline scripts; tests/web/test_templates.py holds them to it).
UXLAB_CSP = env_str(
    "UXLAB_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
)
# Live arms (uxlab/streaming/backends/egress.py): base_url must resolve to public addresses unless
# its host name, address or network is listed here (a local model server: localhost,127.0.0.0/8);
# api_key_env may name only UXLAB_KEY_* variables or those listed in UXLAB_LIVE_KEY_NAMES, and a
# key is sent only to the hosts UXLAB_KEY_HOSTS binds it to (NAME=host or NAME=host:port entries;
# a malformed one stops the process at start, studies/apps.py).
UXLAB_LIVE_ALLOWED_HOSTS = env_list("UXLAB_LIVE_ALLOWED_HOSTS", [])
UXLAB_LIVE_KEY_NAMES = env_list("UXLAB_LIVE_KEY_NAMES", [])
UXLAB_KEY_HOSTS = env_list("UXLAB_KEY_HOSTS", [])
# An arm's `tokenizer:` names a tokenizer.json in this directory (uxlab/streaming/tokenizer_files.py);
# nothing outside it is read, and no file larger than UXLAB_TOKENIZER_MAX_BYTES.
UXLAB_TOKENIZER_DIR = env_str("UXLAB_TOKENIZER_DIR", str(BASE_DIR / "var" / "tokenizers"))
UXLAB_TOKENIZER_MAX_BYTES = env_int("UXLAB_TOKENIZER_MAX_BYTES", 64 * 1024 * 1024)
if UXLAB_TOKENIZER_MAX_BYTES < 1:
    raise ImproperlyConfigured("UXLAB_TOKENIZER_MAX_BYTES must be at least 1")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Participant tokens never reach a log line (uxlab/web/redact.py).
    "filters": {
        "redact_tokens": {"()": "uxlab.web.redact.RedactParticipantTokens"},
        "refusals_on_one_line": {"()": "uxlab.web.redact.RefusalsOnOneLine"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        **{
            f"django.security.{name}": {"filters": ["refusals_on_one_line"]}
            for name in ("RequestDataTooBig", "TooManyFieldsSent", "TooManyFilesSent")
        },
    },
}
