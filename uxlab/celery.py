"""The Celery application; configuration comes from Django settings (CELERY_*)."""

import os

from celery import Celery
from celery.signals import worker_init

from uxlab.envfile import load_or_exit

# `celery --app uxlab ...` reads .env as manage.py does (exported variables win; uxlab/envfile.py).
load_or_exit()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uxlab.settings")

app = Celery("uxlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def keep_one_connection_per_worker_process(**kwargs):
    """A worker process runs one task at a time: it keeps one persistent connection (checked before
    reuse, DB_CONN_MAX_AGE) rather than a pool, so a killed connection is replaced at once and the
    worker's share of Postgres is one connection per process (docs/deployment.md)."""
    from django.conf import settings
    from django.db import connections

    database = connections["default"].settings_dict
    if database.get("OPTIONS", {}).pop("pool", None) is not None:
        connections["default"].close()
        database["CONN_MAX_AGE"] = settings.DB_CONN_MAX_AGE
        settings.DATABASES["default"] = database
