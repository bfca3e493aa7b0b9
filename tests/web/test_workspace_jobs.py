"""Background jobs: a large study's export through a job (the same bytes as the streamed download),
its status and download for the team only, panel ids for owners only, and the worker path itself."""

import time
import uuid

import pytest
from django.urls import reverse

from uxlab.studies.models import Job
from uxlab.studies.tasks import run_job

pytestmark = pytest.mark.django_db


def start(client, study, **form):
    with_commit = {"target": "table", "table": "ratings", "format": "csv"} | form
    response = client.post(reverse("web:start_export", args=[study.code]), with_commit)
    assert response.status_code == 302, response.content[:300]
    return Job.objects.get(key=response["Location"].rstrip("/").rsplit("/", 1)[1])


def streamed(client, study, table="ratings", fmt="csv"):
    response = client.get(reverse("web:download_table", args=[study.code, table, fmt]) + "?stream=1")
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("table,fmt", [("ratings", "csv"), ("trials", "jsonl"), ("participants", "csv")])
def test_a_job_export_has_the_bytes_of_the_streamed_download(client, alice, rated_study, table, fmt,
                                                              django_capture_on_commit_callbacks, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = start(client, rated_study, table=table, format=fmt)
    assert len(callbacks) == 1  # handed to a worker after commit
    assert job.status == "queued"

    run_job(str(job.key))  # what the worker runs

    job.refresh_from_db()
    assert (job.status, job.progress, job.file_name) == ("done", 1.0, f"study-quick_table-{table}_data.{fmt}")
    assert job.total > 0 and job.done >= job.total
    status = client.get(reverse("web:job_status", args=[job.key])).json()
    assert status["status"] == "done" and status["download_url"] == reverse("web:job_download", args=[job.key])
    download = client.get(status["download_url"])
    assert download["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
    assert b"".join(download.streaming_content) == streamed(client, rated_study, table, fmt)


def test_the_psychds_bundle_as_a_job(client, alice, rated_study, settings, tmp_path):
    import io
    import zipfile

    settings.MEDIA_ROOT = tmp_path
    client.force_login(alice)
    job = start(client, rated_study, target="psychds")
    run_job(str(job.key))
    job.refresh_from_db()
    bundle = zipfile.ZipFile(io.BytesIO(b"".join(client.get(reverse("web:job_download", args=[job.key])).streaming_content)))
    assert "data/study-quick_table-ratings_data.csv" in bundle.namelist()
    assert "materials/study.yaml" in bundle.namelist()


def test_running_a_finished_job_again_changes_nothing(client, alice, rated_study, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(alice)
    job = start(client, rated_study)
    run_job(str(job.key))
    job.refresh_from_db()
    finished_at, name = job.finished_at, job.file.name
    assert run_job(str(job.key)) is None  # a redelivered task
    job.refresh_from_db()
    assert (job.finished_at, job.file.name) == (finished_at, name)


def test_a_large_studys_page_link_offers_a_background_export(client, alice, rated_study, settings):
    settings.UXLAB_EXPORT_STREAM_MAX_ROWS = 2  # the study has 4 ratings
    client.force_login(alice)
    page = client.get(reverse("web:download_table", args=[rated_study.code, "ratings", "csv"]))
    assert page.status_code == 200 and b'id="large-export"' in page.content
    assert b"Prepare the download" in page.content and b"stream=1" in page.content
    assert client.get(reverse("web:download_table", args=[rated_study.code, "nope", "csv"])).status_code == 404
    # Streaming stays available (scripts, the API, "stream it now").
    assert streamed(client, rated_study).count(b"\n") == 5
    settings.UXLAB_EXPORT_STREAM_MAX_ROWS = 50_000
    small = client.get(reverse("web:download_table", args=[rated_study.code, "ratings", "csv"]))
    assert small.streaming


def test_jobs_are_for_the_studys_team_only(client, alice, bob, rated_study, charlie, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(alice)
    job = start(client, rated_study)
    run_job(str(job.key))
    client.force_login(charlie)
    for name in ("web:job", "web:job_status", "web:job_download"):
        assert client.get(reverse(name, args=[job.key])).status_code == 404
    assert client.get(reverse("web:job", args=[uuid.uuid4()])).status_code == 404
    assert client.post(reverse("web:start_export", args=[rated_study.code]),
                       {"target": "table", "table": "ratings", "format": "csv"}).status_code == 404
    client.force_login(bob)  # a viewer downloads, as on the results page
    assert client.get(reverse("web:job_download", args=[job.key])).status_code == 200


def test_panel_ids_are_for_owners_only_and_logged(client, alice, bob, rated_study, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(bob)
    refused = client.post(reverse("web:start_export", args=[rated_study.code]),
                          {"target": "table", "table": "participants", "format": "csv", "external_ids": "1"})
    assert refused.status_code == 404 and not Job.objects.exists()
    client.force_login(alice)
    job = start(client, rated_study, table="participants", external_ids="1")
    assert job.owners_only and rated_study.export_audits.get().table == "participants"
    run_job(str(job.key))
    client.force_login(bob)
    assert client.get(reverse("web:job_download", args=[job.key])).status_code == 404
    assert client.get(reverse("web:job_status", args=[job.key])).status_code == 404


def test_unknown_tables_and_formats_are_a_404(client, alice, rated_study):
    client.force_login(alice)
    for form in ({"table": "secrets", "format": "csv"}, {"table": "ratings", "format": "exe"}, {}):
        assert client.post(reverse("web:start_export", args=[rated_study.code]), form).status_code == 404
    assert not Job.objects.exists()


def test_the_jobs_page_has_an_empty_state_and_recording_needs_a_live_arm(client, alice, bob, study):
    client.force_login(alice)
    page = client.get(reverse("web:study_jobs", args=[study.code])).content
    assert b'id="no-jobs"' in page and b'id="no-live-arms"' in page
    assert client.post(reverse("web:start_recording", args=[study.code]), {"arm": "fast_arm"}).status_code == 404
    client.force_login(bob)
    assert client.post(reverse("web:start_recording", args=[study.code]), {"arm": "fast_arm"}).status_code == 404


def test_old_files_are_deleted_and_lost_jobs_failed(client, alice, rated_study, settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from uxlab.studies.actions.jobs import delete_old_job_files

    settings.MEDIA_ROOT = tmp_path
    client.force_login(alice)
    job = start(client, rated_study)
    run_job(str(job.key))
    job.refresh_from_db()
    path = job.file.path
    lost = start(client, rated_study)
    Job.objects.update(created_at=timezone.now() - timedelta(days=settings.UXLAB_JOB_FILES_DAYS + 1))
    assert delete_old_job_files() == (1, 1)
    job.refresh_from_db()
    lost.refresh_from_db()
    assert not job.file and "deleted" in job.message and lost.status == "failed"
    import os

    assert not os.path.exists(path)
    assert client.get(reverse("web:job_download", args=[job.key])).status_code == 404


# --- With the real worker ------------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_workspace_export_runs_on_the_real_worker(client, stack, alice, rated_study):
    """The request starts the job; the stack's Celery worker (its own process, the same database and
    MEDIA_ROOT) builds the file; polling shows it done; the download is the streamed bytes."""
    client.force_login(alice)
    job = start(client, rated_study)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(reverse("web:job_status", args=[job.key])).json()
        if status["status"] in {"done", "failed"}:
            break
        time.sleep(0.2)
    assert status["status"] == "done", status
    download = client.get(status["download_url"])
    assert b"".join(download.streaming_content) == streamed(client, rated_study)


# --- Stored exports follow withdrawals and erased panel ids ------------------------------------------


def downloaded(client, job):
    return b"".join(client.get(reverse("web:job_download", args=[job.key])).streaming_content).decode()


def test_a_withdrawal_deletes_the_studys_stored_export_files(client, alice, rated_study, settings, tmp_path):
    from uxlab.studies import actions
    from uxlab.studies.models import AuditEntry, Participant

    settings.MEDIA_ROOT = tmp_path
    client.force_login(alice)
    gone = rated_study.participants.order_by("pk").first()
    jobs = [start(client, rated_study), start(client, rated_study, table="participants", external_ids="1")]
    for job in jobs:
        run_job(str(job.key))
        job.refresh_from_db()
        assert f"\nquick,{gone.pk}," in downloaded(client, job)
    paths = [job.file.path for job in jobs]

    actions.withdraw_participant(gone, Participant.WithdrawnBy.PARTICIPANT)

    for job, path in zip(jobs, paths):
        job.refresh_from_db()
        assert not (tmp_path / path).exists() and not job.file and job.status == "done"
        assert job.message == "The file was deleted because a participant withdrew; start the export again."
        assert client.get(reverse("web:job_download", args=[job.key])).status_code == 404
        assert client.get(reverse("web:job_status", args=[job.key])).json()["download_url"] is None
    entry = AuditEntry.objects.get(action="export_files_deleted")
    assert (entry.detail, entry.participant_number, entry.user, entry.data) == (
        "2 export files deleted (a participant withdrew)", gone.pk, None,
        {"files_deleted": 2, "exports_stopped": 0, "because": "participant_withdrawn"})  # fmt: skip
    again = start(client, rated_study)
    run_job(str(again.key))
    again.refresh_from_db()
    assert f"\nquick,{gone.pk}," not in downloaded(client, again)


def test_an_export_running_when_a_participant_withdraws_keeps_no_file(alice, rated_study, settings, tmp_path):
    from uxlab.analysis.export_jobs import build_export
    from uxlab.studies import actions
    from uxlab.studies.actions.jobs import claim_job, start_job
    from uxlab.studies.models import AuditEntry, Participant

    settings.MEDIA_ROOT = tmp_path
    job = start_job(rated_study, alice, Job.Kind.EXPORT, {"target": "table", "table": "ratings", "format": "csv"})
    running = claim_job(job.key)  # the worker has started reading

    actions.withdraw_participant(rated_study.participants.first(), Participant.WithdrawnBy.RESEARCHER, alice)
    build_export(running)  # and now writes what it read

    job.refresh_from_db()
    assert (job.status, job.file.name) == ("failed", "")
    assert job.message == "Stopped because a participant withdrew while it ran; start the export again."
    assert not list(tmp_path.rglob("*.csv"))
    assert AuditEntry.objects.get(action="export_files_deleted").detail == "1 running export stopped (a participant withdrew)"


def test_erasing_panel_ids_deletes_the_export_files_that_hold_them(client, alice, rated_study, settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from uxlab.studies.actions.privacy import erase_old_panel_ids
    from uxlab.studies.models import AuditEntry, ExternalIdentity

    settings.MEDIA_ROOT = tmp_path
    client.force_login(alice)
    participant = rated_study.participants.first()
    ExternalIdentity.objects.create(participant=participant, study=rated_study, external_id="PID-ERASED")
    with_ids = start(client, rated_study, table="participants", external_ids="1")
    without = start(client, rated_study, table="participants")
    for job in (with_ids, without):
        run_job(str(job.key))
    with_ids.refresh_from_db()
    assert "PID-ERASED" in downloaded(client, with_ids)

    assert erase_old_panel_ids(now=timezone.now() + timedelta(days=100), days=90) == 1

    with_ids.refresh_from_db()
    without.refresh_from_db()
    assert not with_ids.file and with_ids.message.startswith("The file was deleted because panel ids were erased")
    assert without.file and f"\nquick,{participant.pk}," in downloaded(client, without)  # no panel ids in it: kept
    entry = AuditEntry.objects.get(action="export_files_deleted")
    assert (entry.detail, entry.participant_number) == ("1 export file deleted (panel ids were erased)", None)


def test_the_job_page_cancels_for_its_starter_and_the_studys_editors(client, alice, bob, charlie, rated_study):
    client.force_login(bob)  # a viewer may start an export ...
    own = start(client, rated_study)
    page = client.get(reverse("web:job", args=[own.key])).content.decode()
    assert 'id="job-cancel"' in page
    client.force_login(alice)
    other = start(client, rated_study)
    client.force_login(bob)  # ... and cancel it, but not an export someone else started
    assert 'id="job-cancel"' not in client.get(reverse("web:job", args=[other.key])).content.decode()
    assert client.post(reverse("web:job_cancel", args=[other.key])).status_code == 403
    client.force_login(charlie)
    assert client.post(reverse("web:job_cancel", args=[own.key])).status_code == 404
    assert Job.objects.filter(status="cancelled").count() == 0

    client.force_login(bob)
    response = client.post(reverse("web:job_cancel", args=[own.key]))
    assert response.status_code == 302 and response["Location"] == reverse("web:job", args=[own.key])
    status = client.get(reverse("web:job_status", args=[own.key])).json()
    assert (status["status"], status["message"], status["download_url"]) == ("cancelled", "Cancelled by bob.", None)
    page = client.get(reverse("web:job", args=[own.key])).content.decode()
    assert "The job is cancelled." in page and 'id="job-cancel"' not in page and "status-job-cancelled" in page
    client.force_login(alice)  # an editor (here the owner) cancels anyone's
    assert client.post(reverse("web:job_cancel", args=[other.key])).status_code == 302
    assert client.get(reverse("web:job_cancel", args=[other.key])).status_code == 405
    again = client.post(reverse("web:job_cancel", args=[other.key]), follow=True).content.decode()
    assert "already ended (cancelled)" in again
    assert client.get(reverse("web:study_jobs", args=[rated_study.code])).content.decode().count("status-job-cancelled") == 2
