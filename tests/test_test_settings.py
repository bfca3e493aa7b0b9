"""tests/settings.py: each xdist worker gets a Redis database and static/media folders of its own,
moved once (a child process importing the settings again inherits them as they are)."""

import pytest

from tests.settings import BASE_KEY, isolate_worker, worker_redis_url


def test_it_lowers_the_redis_database_by_the_workers_index():
    assert worker_redis_url("redis://127.0.0.1:6379/15", "gw0") == "redis://127.0.0.1:6379/15"
    assert worker_redis_url("redis://127.0.0.1:6379/15", "gw1") == "redis://127.0.0.1:6379/14"
    with pytest.raises(RuntimeError):
        worker_redis_url("redis://127.0.0.1:6379/1", "gw2")


def test_it_moves_the_broker_with_redis_and_only_once():
    environ = {"PYTEST_XDIST_WORKER": "gw1", "REDIS_URL": "redis://h:6379/15", "CELERY_BROKER_URL": "redis://h:6379/15"}
    isolate_worker(environ)
    assert environ["REDIS_URL"] == environ["CELERY_BROKER_URL"] == "redis://h:6379/14"
    assert environ["STATIC_ROOT"].endswith("var/static-gw1") and environ["MEDIA_ROOT"].endswith("var/media-gw1")
    assert environ[BASE_KEY] == "redis://h:6379/15"
    isolate_worker(environ)  # a child process of that worker
    assert environ["REDIS_URL"] == "redis://h:6379/14"


def test_it_leaves_a_run_without_workers_and_another_broker_alone():
    environ = {"REDIS_URL": "redis://h:6379/15"}
    isolate_worker(environ)
    assert environ == {"REDIS_URL": "redis://h:6379/15"}
    environ = {"PYTEST_XDIST_WORKER": "gw1", "REDIS_URL": "redis://h/15", "CELERY_BROKER_URL": "amqp://guest@h//"}
    isolate_worker(environ)
    assert environ["CELERY_BROKER_URL"] == "amqp://guest@h//"
