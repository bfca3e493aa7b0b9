"""A Celery worker with the fault hooks some tests need, kept out of production code.

    python -m tests.faulty_worker --app uxlab worker ...   (as `celery`, through `celery_worker(module=...)`)

It wraps the action that stores a batch of answers before the worker starts (its prefork pool
inherits the wrapper), then runs Celery's own main. Three hooks, each read from the environment:

- UXLAB_TEST_STORE_DELAY_S: wait that long before storing a batch, so
  tests/browser/test_completion_waits.py can prove completion waits for the last answer.
- UXLAB_TEST_TELEMETRY_DELAY_S: wait that long before storing each telemetry batch, so the same
  tests can prove a trial page moves on before its telemetry is stored and the last one does not.
- UXLAB_FAULT_KILL_AFTER_COMMIT: when the file it names exists, remove it and SIGKILL this process
  right after a batch is committed, so the batch is neither confirmed nor acknowledged
  (tests/integration/test_rating_faults.py).
"""

import functools
import os
import signal
import sys
import time


def slow_down_if_a_test_asks():
    delay = float(os.environ.get("UXLAB_TEST_STORE_DELAY_S") or 0)
    if delay > 0:
        time.sleep(delay)


def crash_here_if_a_fault_test_asks():
    marker = os.environ.get("UXLAB_FAULT_KILL_AFTER_COMMIT")
    if not marker:
        return
    try:
        os.remove(marker)
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def with_telemetry_delay(record_telemetry):
    @functools.wraps(record_telemetry)
    def record_telemetry_slowly(payload):
        time.sleep(float(os.environ.get("UXLAB_TEST_TELEMETRY_DELAY_S") or 0))
        return record_telemetry(payload)

    return record_telemetry_slowly


def with_fault_hooks(record_ratings):
    @functools.wraps(record_ratings)
    def record_ratings_with_faults(payloads):
        slow_down_if_a_test_asks()
        outcomes = record_ratings(payloads)  # committed when it returns
        crash_here_if_a_fault_test_asks()
        return outcomes

    return record_ratings_with_faults


def install():
    """Wrap record_ratings (and record_telemetry) where the store tasks look them up."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uxlab.settings")
    django.setup()
    from uxlab.studies import tasks

    owner = tasks if hasattr(tasks, "record_ratings") else tasks.actions
    owner.record_ratings = with_fault_hooks(owner.record_ratings)
    tasks.actions.record_telemetry = with_telemetry_delay(tasks.actions.record_telemetry)


if __name__ == "__main__":
    install()
    from celery.__main__ import main

    sys.argv[0] = "celery"
    sys.exit(main())
