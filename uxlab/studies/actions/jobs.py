"""Long work for a study done by a worker (a large export, a trace recording): starting it,
reporting progress, storing its file, failing or cancelling it, and deleting old files, or the
files a withdrawal or an erasure of panel ids has made out of date.

A job is started in the request (a row, then a task by name after commit: studies/queue.py); the
worker re-fetches it by its key and runs it (tasks.run_job). Progress is written at most every
PROGRESS_EVERY_S, so a large export costs a handful of updates, not one per row; at the same
moments the worker checks whether the job was cancelled, and stops between two steps if it was.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from uxlab.studies import queue
from uxlab.studies.actions.audit import record_audit
from uxlab.studies.models import AuditEntry, Job

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5
# A job still queued or running after this long was lost with its worker: it is failed by beat.
STALE_AFTER = timedelta(hours=6)


def start_job(study, user, kind, params, *, total=0, owners_only=False):
    """A queued job, handed to a worker once the transaction commits. Returns the job."""
    job = Job.objects.create(study=study, created_by=user, kind=kind, params=params, total=total, owners_only=owners_only)
    transaction.on_commit(lambda: queue.enqueue(queue.RUN_JOB, str(job.key)))
    return job


def claim_job(key):
    """The job to run now (marked running), or None when it is unknown or already finished (a
    redelivered task after the job completed)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().select_related("study").filter(key=key).first()
        if job is None or job.finished:
            return None
        job.status = Job.Status.RUNNING
        job.started_at = timezone.now()
        job.done = 0
        job.save(update_fields=["status", "started_at", "done"])
    return job


def progress_key(job_key):
    return f"uxlab-job-progress:{job_key}"


def cancel_key(job_key):
    return f"uxlab-job-cancelled:{job_key}"


class JobCancelled(Exception):
    """The job was cancelled while it ran: raised by Progress between two steps."""


def cancel_job(job, user):
    """Cancel a queued or running job; False when it had already ended.

    The row says "cancelled" at once (a queued job is then never started: claim_job skips it); a
    running job's worker sees the flag at its next progress check (the cache, like the progress:
    an export's connection may be busy streaming a COPY) and stops, keeping no file.
    """
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        if locked.finished:
            return False
        who = f" by {user.get_username()}" if user is not None and user.is_authenticated else ""
        locked.status = Job.Status.CANCELLED
        locked.finished_at = timezone.now()
        locked.message = f"Cancelled{who}."
        locked.save(update_fields=["status", "finished_at", "message"])
    cache.set(cancel_key(job.key), 1, timeout=int(STALE_AFTER.total_seconds()))
    job.refresh_from_db()
    return True


class Progress:
    """`progress.step(n)` as work is done. The count goes to the cache (Redis when configured), not
    the database: an export counts rows while its connection is busy streaming a COPY."""

    def __init__(self, job, every_s=PROGRESS_EVERY_S):
        self.job = job
        self.done = 0
        self.every_s = every_s
        self.written_at = float("-inf")

    def set_total(self, total):
        self.job.total = total
        Job.objects.filter(pk=self.job.pk).update(total=total)

    def step(self, count=1):
        """Count work done; every ``every_s`` write the count and stop if the job was cancelled."""
        self.done += count
        self.job.done = self.done
        now = time.monotonic()
        if now - self.written_at >= self.every_s:
            self.written_at = now
            cache.set(progress_key(self.job.key), self.done, timeout=int(STALE_AFTER.total_seconds()))
            self.stop_if_cancelled()

    def stop_if_cancelled(self):
        if cache.get(cancel_key(self.job.key)):
            raise JobCancelled(str(self.job.key))


def current_done(job):
    """Steps done so far: the cache's running count while the job runs, the row's once it ended."""
    if job.status == Job.Status.RUNNING:
        return max(job.done, cache.get(progress_key(job.key)) or 0)
    return job.done


def finish_job(job, path, file_name, content_type):
    """Store the written file (its temporary `path`) as the job's result and mark it done, unless
    it was cancelled, or stopped by a withdrawal or erasure (discard_export_files), while it ran: then
    the file is deleted at once."""
    with open(path, "rb") as source:
        job.file.save(f"{job.key}/{file_name}", File(source), save=False)
    done = max(job.done, job.total)
    finished = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        file=job.file.name, file_name=file_name, content_type=content_type, size=job.file.size,
        status=Job.Status.DONE, finished_at=timezone.now(), done=done,
    )
    if not finished:
        job.file.delete(save=False)
    job.refresh_from_db()
    return job


def complete_job(job, message=""):
    """Mark a job without a file (a trace recording) done, unless it was cancelled meanwhile."""
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=Job.Status.DONE, finished_at=timezone.now(), message=message[:300], done=job.total
    )


def fail_job(job, message):
    log.warning("job %s (%s) failed: %s", job.key, job.kind, message)
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.FAILED, finished_at=timezone.now(), message=message[:300]
    )


def delete_old_job_files():
    """Beat: delete files of jobs older than UXLAB_JOB_FILES_DAYS (the rows stay, without a file),
    and fail jobs a lost worker left queued or running. Returns (files deleted, jobs failed)."""
    cutoff = timezone.now() - timedelta(days=settings.UXLAB_JOB_FILES_DAYS)
    deleted = 0
    for job in Job.objects.filter(created_at__lt=cutoff).exclude(file=""):
        job.file.delete(save=False)
        Job.objects.filter(pk=job.pk).update(file="", message="The file was deleted after "
                                             f"{settings.UXLAB_JOB_FILES_DAYS} days; start the export again.")
        deleted += 1
    stale = Job.objects.filter(
        status__in=[Job.Status.QUEUED, Job.Status.RUNNING], created_at__lt=timezone.now() - STALE_AFTER
    ).update(status=Job.Status.FAILED, finished_at=timezone.now(), message="The worker running this job was lost.")
    return deleted, stale


# Why stored export files were deleted (discard_export_files), in the job's message and the audit log.
DISCARD_REASONS = {
    AuditEntry.Action.PARTICIPANT_WITHDRAWN: "a participant withdrew",
    AuditEntry.Action.PANEL_IDS_ERASED: "panel ids were erased",
}


def discard_export_files(study_id, because, *, participant_number=None, panel_ids_only=False):
    """Delete the study's stored export files that hold data no longer kept, in the caller's
    transaction: every export when a participant withdrew, those with panel ids when panel ids were
    erased (``panel_ids_only``). A running export is stopped, since it may have read the rows before
    they were deleted (finish_job then deletes its file). Each job says why and that the export can
    be started again; one audit entry counts them. ``because`` is an AuditEntry.Action (the event).
    Returns (files deleted, exports stopped)."""
    reason = DISCARD_REASONS[because]
    exports = Job.objects.select_for_update().filter(study_id=study_id, kind=Job.Kind.EXPORT)
    if panel_ids_only:
        exports = exports.filter(owners_only=True)
    deleted = stopped = 0
    for job in exports.filter(status=Job.Status.DONE).exclude(file=""):
        job.file.delete(save=False)
        Job.objects.filter(pk=job.pk).update(file="", size=0, message=f"The file was deleted because {reason}; start the export again.")
        deleted += 1
    stopped = exports.filter(status=Job.Status.RUNNING).update(
        status=Job.Status.FAILED, finished_at=timezone.now(),
        message=f"Stopped because {reason} while it ran; start the export again.",
    )
    if deleted or stopped:
        words = [f"{deleted} export file{'' if deleted == 1 else 's'} deleted"] if deleted else []
        words += [f"{stopped} running export{'' if stopped == 1 else 's'} stopped"] if stopped else []
        record_audit(study_id, None, AuditEntry.Action.EXPORT_FILES_DELETED, f"{', '.join(words)} ({reason})",
                     participant_number=participant_number,
                     data={"files_deleted": deleted, "exports_stopped": stopped, "because": because})  # fmt: skip
    return deleted, stopped


def run_trace_job(job):
    """Record a live arm's traces for the job, one step per prompt recorded."""
    from uxlab.streaming.backends.openai_compat import BackendError
    from uxlab.studies.actions.traces import RecordingRefused, record_traces

    params = job.params
    progress = Progress(job, every_s=0)
    progress.set_total(1 if params.get("prompt") else job.study.prompts.count())

    def step(count):
        progress.step(count)

    try:
        traces = record_traces(job.study.code, params["arm"], params.get("prompt"),
                               concurrency=params.get("concurrency", 1), on_progress=step)
    except RecordingRefused as refused:
        return fail_job(job, refused.message)
    except BackendError as error:
        return fail_job(job, f"The backend failed ({error.code}): {error.message}")
    job.total = len(traces)
    complete_job(job, f"Recorded {len(traces)} trace{'s' if len(traces) != 1 else ''}.")
