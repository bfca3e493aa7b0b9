"""Long work with progress: a study's background jobs (large exports, trace recordings), a job's
page with its progress bar (jobs.js polls the JSON status) and its Cancel button, and the download
once it is ready.

Jobs are reached through their study's team (`get_study_for_user`); a job whose file holds panel
ids is its team owners' only. Anything else gets the same 404 as a job that does not exist.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from uxlab.analysis.export import FORMATS
from uxlab.analysis.rows import export_tables
from uxlab.streaming import kinds
from uxlab.studies.access import can_write, get_study_for_user, is_study_owner
from uxlab.studies.actions import record_external_id_export
from uxlab.studies.actions.jobs import cancel_job, current_done, start_job
from uxlab.studies.models import Job, Rating, Study
from uxlab.web.downloads import rules_from

JOBS_SHOWN = 20


def is_large(study):
    """Whether the study's exports run as background jobs on the pages (more ratings than the setting)."""
    limit = settings.UXLAB_EXPORT_STREAM_MAX_ROWS
    return Rating.objects.filter(participant__study=study)[: limit + 1].count() > limit


def recordable_arms(study):
    return [arm for arm in study.arms.all() if kinds.get(arm.kind).recordable]


def get_job_for_user(user, key):
    job = Job.objects.select_related("study", "study__team").filter(key=key, study__in=Study.objects.visible_to(user)).first()
    if job is None or (job.owners_only and not is_study_owner(user, job.study)):
        raise Http404("No such job.")
    return job


@login_required
@require_GET
def study_jobs(request, code):
    study = get_study_for_user(request.user, code)
    jobs = [job for job in study.jobs.select_related("created_by")[:JOBS_SHOWN]
            if not job.owners_only or is_study_owner(request.user, study)]
    context = {
        "study": study,
        "jobs": jobs,
        "tables": list(export_tables().values()),
        "formats": list(FORMATS),
        "large": is_large(study),
        "can_write": can_write(request.user, study),
        "is_owner": is_study_owner(request.user, study),
        "arms": recordable_arms(study),
        "prompts": study.prompts.all(),
    }
    return render(request, "jobs/study_jobs.html", context)


def export_params(request, study):
    """The export a form asks for (table and format, or the Psych-DS bundle) with its rules; 404 for
    unknown ones, and for panel ids asked by someone who is not an owner."""
    query = QueryDict(request.POST.get("query", ""))
    params = {"rules": list(rules_from(query))}
    if request.POST.get("target") == "psychds":
        params["target"] = "psychds"
    else:
        table, fmt = request.POST.get("table", ""), request.POST.get("format", "")
        if table not in export_tables() or fmt not in FORMATS:
            raise Http404("Unknown table or format.")
        params.update(target="table", table=table, format=fmt)
    include_ids = request.POST.get("external_ids") == "1"
    if include_ids and not is_study_owner(request.user, study):
        raise Http404("Only the study's owners can export panel ids.")
    return params, include_ids


@login_required
@require_POST
def start_export(request, code):
    study = get_study_for_user(request.user, code)
    params, include_ids = export_params(request, study)
    if include_ids:
        record_external_id_export(study, request.user, params.get("table", "psychds"), params.get("format", "zip"))
    job = start_job(study, request.user, Job.Kind.EXPORT, params, owners_only=include_ids)
    return redirect("web:job", key=job.key)


@login_required
@require_POST
def start_recording(request, code):
    """Record a live arm's traces (all prompts, or one) in the background; owners and editors."""
    study = get_study_for_user(request.user, code, write=True)
    arm = next((arm for arm in recordable_arms(study) if arm.name == request.POST.get("arm")), None)
    if arm is None:
        raise Http404("No such live arm.")
    prompt = request.POST.get("prompt") or None
    if prompt is not None and not study.prompts.filter(name=prompt).exists():
        raise Http404("No such prompt.")
    job = start_job(study, request.user, Job.Kind.RECORD_TRACES, {"arm": arm.name, "prompt": prompt, "concurrency": 1})
    return redirect("web:job", key=job.key)


def job_status(job):
    """What the job page's script shows (and polls for)."""
    job.done = current_done(job)
    return {
        "key": str(job.key),
        "kind": job.kind,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "progress": round(job.progress, 4),
        "message": job.message,
        "download_url": reverse("web:job_download", args=[job.key]) if job.status == Job.Status.DONE and job.file else None,
        "file_name": job.file_name,
        "size": job.size,
    }


def may_cancel(user, job):
    """Who may cancel a job: whoever started it, and the study's owners and editors."""
    return job.created_by_id == user.pk or can_write(user, job.study)


@login_required
@require_GET
def job_page(request, key):
    job = get_job_for_user(request.user, key)
    context = {"job": job, "study": job.study, "status": job_status(job), "may_cancel": may_cancel(request.user, job)}
    return render(request, "jobs/job.html", context)


@login_required
@require_POST
def cancel(request, key):
    """The job page's Cancel button: a queued job never starts, a running one stops at its next step."""
    job = get_job_for_user(request.user, key)
    if not may_cancel(request.user, job):
        raise PermissionDenied("Only whoever started this job, or the study's owners and editors, can cancel it.")
    if cancel_job(job, request.user):
        messages.success(request, "The job is cancelled.")
    else:
        messages.info(request, f"The job had already ended ({job.status}).")
    return redirect("web:job", key=job.key)


@never_cache
@login_required
@require_GET
def job_status_json(request, key):
    return JsonResponse(job_status(get_job_for_user(request.user, key)))


@login_required
@require_GET
def job_download(request, key):
    job = get_job_for_user(request.user, key)
    if job.status != Job.Status.DONE or not job.file:
        raise Http404("This job has no file (yet).")
    try:
        handle = job.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is gone; start the export again.") from None
    return FileResponse(handle, as_attachment=True, filename=job.file_name, content_type=job.content_type)


def large_export_page(request, study, params):
    """Instead of streaming a large study's export on a page link: start it in the background (with
    progress), or stream it anyway."""
    if params["target"] == "table" and (params["table"] not in export_tables() or params["format"] not in FORMATS):
        raise Http404("Unknown table or format.")
    context = {
        "study": study,
        "params": params,
        "query": urlencode([("rules", "set"), *(("rule", name) for name in rules_from(request.GET))]),
        "external_ids": request.GET.get("external_ids") == "1",
        "stream_url": f"{request.path}?{request.GET.urlencode()}&stream=1" if request.GET else f"{request.path}?stream=1",
        "limit": settings.UXLAB_EXPORT_STREAM_MAX_ROWS,
    }
    return render(request, "jobs/large_export.html", context)
