"""Celery tasks: thin wrappers that take primitives, call one action and own the retries."""

import logging
import random

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from uxlab.studies import actions, events, queue

log = logging.getLogger(__name__)

# A lost or killed database connection: the whole batch is tried again as it is.
CONNECTION_ERRORS = (OperationalError, InterfaceError)


def retry_countdown(attempt, base=0.5, cap=30.0):
    """Exponential backoff with full jitter, so a burst of retries does not arrive together."""
    return random.uniform(0, min(cap, base * 2**attempt))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def store_ratings(self, payloads, telemetry=()):
    """Store a batch of answers exactly once each and confirm them to the participants' browsers;
    retry what could not be stored, with backoff, and dead-letter it after the last attempt.

    Web processes send telemetry on its own (store_telemetry_batch, at low priority); `telemetry`
    is still taken from a message an older web process published with its answers, and stored
    after them. A retry of the answers carries no telemetry: it was dealt with here."""
    try:
        return store_and_confirm(self, payloads, retry_args=lambda remaining: [remaining]) if payloads else {}
    finally:
        with events.sent_together():
            for payload in telemetry:
                store_telemetry_or_queue_it(payload)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def store_telemetry_batch(payloads):
    """Store the telemetry of several trials (published together by one web process, at low
    priority), each batch in its own transaction as store_telemetry stores it; one that cannot be
    stored is handed to store_telemetry, which retries it on its own. Their confirmations go out
    together, once all are stored."""
    with events.sent_together():
        for payload in payloads:
            store_telemetry_or_queue_it(payload)
    return {"telemetry": len(payloads)}


def store_telemetry_or_queue_it(payload):
    """Store a telemetry batch; if that fails, leave it to store_telemetry (and if even that cannot
    be queued, to the browser's outbox, which resends it). Never raises: the other batches of the
    message, or the answers it came with, must not be lost to it."""
    try:
        with_reconnect(actions.record_telemetry, payload)
    except Exception as error:
        log.warning("could not store telemetry %s (%r); queueing it on its own", payload.get("key"), error)
        try:
            queue.enqueue(queue.STORE_TELEMETRY, payload, priority=queue.LOW_PRIORITY)
        except Exception:
            log.exception("could not queue telemetry %s; the browser will resend it", payload.get("key"))


def store_and_confirm(task, payloads, retry_args):
    try:
        try:
            outcomes, failures = with_reconnect(actions.record_ratings, payloads), []
        except CONNECTION_ERRORS:
            raise
        except Exception:
            # Something in the batch cannot be stored: store the rest one by one, retry only that.
            outcomes, failures = with_reconnect(actions.record_ratings_separately, payloads)
    except CONNECTION_ERRORS as error:
        close_old_connections()
        outcomes, failures = {}, [(payload, error) for payload in payloads]
    failed = {id(payload) for payload, _error in failures}
    actions.notify_ratings_stored([payload for payload in payloads if id(payload) not in failed])
    if failures:
        retry_or_dead_letter(task, failures, retry_args)
    summary = {outcome: list(outcomes.values()).count(outcome) for outcome in set(outcomes.values())}
    return summary | ({"failed": len(failures)} if failures else {})


def with_reconnect(action, payloads):
    """Run a database action; after a lost connection, reconnect and run it once more at once."""
    try:
        return action(payloads)
    except CONNECTION_ERRORS as error:
        log.warning("lost the database connection (%s); reconnecting", type(error).__name__)
        close_old_connections()
        return action(payloads)


def retry_or_dead_letter(task, failures, retry_args):
    """Retry the failed items later (backoff with full jitter); after the last attempt, keep each
    as a FailedTask. Nothing loops forever and nothing is dropped silently."""
    attempts = task.request.retries + 1
    remaining = [payload for payload, _error in failures]
    error = failures[0][1]
    if attempts < settings.UXLAB_STORE_MAX_ATTEMPTS:
        countdown = retry_countdown(
            task.request.retries, base=settings.UXLAB_STORE_RETRY_BASE_S, cap=settings.UXLAB_STORE_RETRY_CAP_S
        )
        log.warning("attempt %d of %s failed for %d item(s): %r", attempts, task.name, len(remaining), error)
        raise task.retry(args=retry_args(remaining), countdown=countdown, exc=error)
    for payload, item_error in failures:
        try:
            with_reconnect(lambda items: actions.record_failed_task(task.name, items[0], item_error, attempts), [payload])
        except Exception:
            # The browser still holds the answer and resends it; the log keeps the payload too.
            log.critical("could not dead-letter %s payload %r", task.name, payload, exc_info=True)
    log.error("%s gave up on %d item(s) after %d attempts: %r", task.name, len(remaining), attempts, error)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def store_telemetry(self, payload):
    """Store one trial's telemetry batch once, update the trial's fidelity, and confirm it; retried
    and dead-lettered like answers (the browser's outbox keeps it until confirmed)."""
    try:
        return with_reconnect(actions.record_telemetry, payload)
    except Exception as error:
        retry_or_dead_letter(self, [(payload, error)], retry_args=lambda remaining: [remaining[0]])


@shared_task(acks_late=True)
def expire_sessions():
    """Beat, every minute: end sessions past their study's time limit or abandoned, freeing their cells."""
    return actions.expire_sessions()


@shared_task(acks_late=True)
def erase_panel_ids():
    """Beat, hourly: erase the panel ids of sessions that ended more than
    UXLAB_PANEL_ID_RETENTION_DAYS ago (actions/privacy.py), audited per study."""
    return actions.erase_old_panel_ids()


# Backend failures worth another try later; the rest (bad key, bad model, empty answer) are not.
RETRYABLE_BACKEND_ERRORS = {
    "connect_failed", "connect_timeout", "first_chunk_timeout", "inter_chunk_timeout",
    "rate_limited", "server_error", "stream_error", "network_error", "truncated",
}  # fmt: skip


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def record_trace(self, study_code, arm_name, prompt_name=None, concurrency=1):
    """Capture a live arm's response to each prompt (or one) and store it; returns the trace ids."""
    from uxlab.streaming.backends.openai_compat import BackendError

    try:
        traces = actions.record_traces(study_code, arm_name, prompt_name, concurrency=concurrency)
        return [trace.pk for trace in traces]
    except BackendError as error:
        if error.code in RETRYABLE_BACKEND_ERRORS:
            raise self.retry(exc=error, countdown=retry_countdown(self.request.retries, base=5.0, cap=120.0)) from error
        raise


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_job(job_key):
    """A researcher's long work (studies/actions/jobs.py): a large export or a trace recording.
    Idempotent: a job already finished (or cancelled) is left alone; a redelivered one starts again
    from nothing. A job cancelled while it runs stops at its next progress check."""
    from uxlab.studies.actions.jobs import JobCancelled, claim_job, fail_job, run_trace_job
    from uxlab.studies.models import Job

    job = claim_job(job_key)
    if job is None:
        return None
    try:
        if job.kind == Job.Kind.EXPORT:
            from uxlab.analysis.export_jobs import build_export

            build_export(job)
        else:
            run_trace_job(job)
    except JobCancelled:
        log.info("job %s stopped: it was cancelled", job_key)
    except Exception as error:
        log.exception("job %s failed", job_key)
        fail_job(job, f"The job failed unexpectedly ({type(error).__name__}); try again or see the worker's log.")
    return job_key


@shared_task(acks_late=True)
def delete_old_job_files():
    """Beat, hourly: background jobs' files past UXLAB_JOB_FILES_DAYS, and jobs a lost worker left."""
    from uxlab.studies.actions.jobs import delete_old_job_files as delete

    return delete()
