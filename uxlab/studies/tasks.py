"""Celery tasks: thin wrappers that take primitives, call one action and own the retries."""

import random

from celery import shared_task
from django.db import DatabaseError, InterfaceError, OperationalError

from uxlab.studies import actions

MAX_STORE_ATTEMPTS = 6


def retry_countdown(attempt, base=0.5, cap=30.0):
    """Exponential backoff with full jitter, so a burst of retries does not arrive together."""
    return random.uniform(0, min(cap, base * 2**attempt))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_STORE_ATTEMPTS - 1)
def store_rating(self, payload):
    """Store one participant answer exactly once and confirm it to the participant's browser."""
    try:
        return actions.record_rating(payload)
    except (OperationalError, InterfaceError, DatabaseError) as error:
        raise self.retry(exc=error, countdown=retry_countdown(self.request.retries)) from error
