"""Recording traces as a background job started from the study's jobs page: progress per prompt
and the job's outcome, against a real streaming server on 127.0.0.1 (tests/streaming/sse_server.py)."""

import pytest
from django.urls import reverse

from tests.studies.test_record_trace import make_study, server  # noqa: F401 (a fixture)
from uxlab.studies.models import Job, RecordedTrace
from uxlab.studies.tasks import run_job

pytestmark = pytest.mark.django_db


def test_workspace_recording_job_records_every_prompt_with_progress(client, alice, team, server):  # noqa: F811
    study = make_study(team, server)
    client.force_login(alice)
    page = client.get(reverse("web:study_jobs", args=[study.code])).content.decode()
    assert '<option value="reasoner">' in page and "reasoner_fast" not in page.split('id="record-arm"')[1].split("</select>")[0]

    response = client.post(reverse("web:start_recording", args=[study.code]), {"arm": "reasoner", "prompt": ""})
    job = Job.objects.get()
    assert response["Location"] == reverse("web:job", args=[job.key])
    run_job(str(job.key))

    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.progress) == ("done", 2, 2, 1.0)
    assert job.message == "Recorded 2 traces."
    assert RecordedTrace.objects.filter(arm__name="reasoner").count() == 2
    status = client.get(reverse("web:job_status", args=[job.key])).json()
    assert status["status"] == "done" and status["download_url"] is None


def test_a_failing_backend_fails_the_job_with_its_reason(client, alice, team, monkeypatch):
    from types import SimpleNamespace

    from uxlab.benchmarks.processes import free_port

    monkeypatch.setenv("UXLAB_KEY_TEST_BACKEND", "sk-test-not-stored")
    study = make_study(team, SimpleNamespace(base_url=f"http://127.0.0.1:{free_port()}/v1"))  # nothing listens
    client.force_login(alice)
    client.post(reverse("web:start_recording", args=[study.code]), {"arm": "reasoner", "prompt": "egg"})
    job = Job.objects.get()
    run_job(str(job.key))
    job.refresh_from_db()
    assert job.status == "failed" and job.message.startswith("The backend failed (")


def test_a_recording_cancelled_while_it_runs_stores_no_trace(client, alice, team, server):  # noqa: F811
    from uxlab.studies.actions import jobs

    study = make_study(team, server)
    client.force_login(alice)
    client.post(reverse("web:start_recording", args=[study.code]), {"arm": "reasoner", "prompt": ""})
    job = jobs.claim_job(Job.objects.get().key)  # the worker took it, then the researcher cancelled
    assert client.post(reverse("web:job_cancel", args=[job.key])).status_code == 302
    with pytest.raises(jobs.JobCancelled):
        jobs.run_trace_job(job)  # stops after the first prompt's capture, before storing anything
    job.refresh_from_db()
    assert (job.status, job.message) == ("cancelled", "Cancelled by alice.")
    assert not RecordedTrace.objects.exists()
