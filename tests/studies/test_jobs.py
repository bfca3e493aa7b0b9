"""Cancelling a background job (studies/actions/jobs.py): a queued job never starts, a running one
stops between two steps and keeps no file, and a job that ended stays as it ended."""

import pytest
from django.urls import reverse

from tests.web.conftest import rated_study  # noqa: F401 (a fixture)
from uxlab.studies.actions import jobs
from uxlab.studies.models import Job
from uxlab.studies.tasks import run_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(client, alice, rated_study, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path
    client.force_login(alice)
    response = client.post(reverse("web:start_export", args=[rated_study.code]),
                           {"target": "table", "table": "trials", "format": "jsonl"})
    return Job.objects.get(key=response["Location"].rstrip("/").rsplit("/", 1)[1])


def test_a_cancelled_queued_job_never_starts(export, alice, tmp_path):
    assert jobs.cancel_job(export, alice) is True
    assert (export.status, export.message) == ("cancelled", "Cancelled by alice.")
    assert export.finished_at is not None
    assert run_job(str(export.key)) is None  # the worker's task finds it ended
    export.refresh_from_db()
    assert export.status == "cancelled" and not export.file and not list(tmp_path.rglob("*.jsonl"))


def test_progress_checks_for_a_cancellation_between_steps(export, alice):
    job = jobs.claim_job(export.key)
    every_step, every_hour = jobs.Progress(job, every_s=0), jobs.Progress(job, every_s=3600)
    every_step.step()
    every_hour.step()  # the first step checks, then not for an hour
    jobs.cancel_job(Job.objects.get(pk=job.pk), alice)
    every_hour.step(10)  # between checks: the count goes on
    assert every_hour.done == 11
    with pytest.raises(jobs.JobCancelled):
        every_step.step()
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_the_worker_stops_a_job_cancelled_after_it_was_claimed(export, alice, tmp_path):
    job = jobs.claim_job(export.key)  # the worker took it ...
    jobs.cancel_job(Job.objects.get(pk=job.pk), alice)  # ... and then the researcher cancelled
    from uxlab.analysis.export_jobs import build_export

    with pytest.raises(jobs.JobCancelled):
        build_export(job)  # the first step sees the flag
    job.refresh_from_db()
    assert job.status == "cancelled" and not job.file and not list(tmp_path.rglob("*.jsonl"))


def test_a_file_finished_after_the_cancellation_is_not_kept(export, alice, tmp_path):
    """Without the cache's flag (lost or expired), the row still wins: no "done", no file."""
    from django.core.cache import cache

    job = jobs.claim_job(export.key)
    jobs.cancel_job(Job.objects.get(pk=job.pk), alice)
    cache.delete(jobs.cancel_key(job.key))
    from uxlab.analysis.export_jobs import build_export

    build_export(job)
    job.refresh_from_db()
    assert job.status == "cancelled" and not job.file and not list(tmp_path.rglob("*.jsonl"))


def test_a_job_that_ended_is_not_cancelled(export, alice):
    run_job(str(export.key))
    export.refresh_from_db()
    assert export.status == "done"
    assert jobs.cancel_job(export, alice) is False
    export.refresh_from_db()
    assert export.status == "done" and export.file


def test_a_failure_after_the_cancellation_leaves_it_cancelled(export, alice):
    job = jobs.claim_job(export.key)
    jobs.cancel_job(Job.objects.get(pk=job.pk), alice)
    jobs.fail_job(job, "boom")
    jobs.complete_job(job, "done anyway")
    job.refresh_from_db()
    assert (job.status, job.message) == ("cancelled", "Cancelled by alice.")
