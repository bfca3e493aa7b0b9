"""Running a study from the builder: preview as a participant, pilot links and their data, and
the lifecycle buttons (launch, pause, resume, close), each audited. See docs/builder.md."""

import hmac

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from uxlab.studies import drafts
from uxlab.studies.access import get_study_for_user
from uxlab.studies.actions import builder as build
from uxlab.studies.actions import lifecycle
from uxlab.studies.actions.audit import record_audit
from uxlab.studies.models import Study
from uxlab.web.views_participant import closed_response, remember_owner

PILOT_SALT = "uxlab.pilot-link"


def pilot_key(study):
    """The secret part of a study's pilot link (anyone holding the link can pilot the study)."""
    return signing.Signer(salt=PILOT_SALT).signature(study.code)[:22]


def launch_problems(study):
    """What stops a launch: a draft the schema refuses, or rows not yet written from it."""
    _definition, problems = drafts.problems_of(build.draft_of(study).document)
    if problems:
        return [f"{path}: {message}" for path, message in problems[:5]]
    if build.unapplied(study):
        return ["the draft's changes are not in the study yet: delete its pilot data first (Pilot page)"]
    return []


@login_required
@require_POST
def change_status(request, code, action):
    """A lifecycle button of the study page: launch, pause, resume or close."""
    study = get_study_for_user(request.user, code, write=True)
    try:
        lifecycle.transition(study, action, request.user, launch_check=launch_problems)
    except lifecycle.TransitionRefused as refused:
        messages.error(request, f"Not {action}ed: {refused}")
    else:
        messages.success(request, f"The study is now {study.status}.")
    return redirect(request.POST.get("next") if request.POST.get("next") in _back_urls(study) else
                    reverse("web:study_detail", args=[study.code]))


def _back_urls(study):
    return {reverse("web:study_detail", args=[study.code]), reverse("web:builder", args=[study.code])}


@login_required
@require_POST
def preview(request, code):
    """Preview as participant: the whole flow for this browser, outside quotas and analysis."""
    study = get_study_for_user(request.user, code, write=True)
    problems = launch_problems(study)
    if study.status == Study.Status.CLOSED or problems:
        messages.error(request, "Preview needs a valid study that is not closed: " + "; ".join(problems or ["closed"]))
        return redirect("web:builder", code=study.code)
    participant = lifecycle.enroll_uncounted(study, lifecycle.PREVIEW)
    record_audit(study, request.user, "preview", "started a preview")
    return remember_owner(redirect("web:participant_home", token=participant.token), request, study, participant)


@login_required
def pilot(request, code):
    """The pilot page: the pilot link, how many pilot and preview sessions there are, and deleting them."""
    study = get_study_for_user(request.user, code, write=True)
    link = request.build_absolute_uri(reverse("web:pilot_entry", args=[study.code, pilot_key(study)]))
    context = {"study": study, "pilot_link": link, "counts": lifecycle.uncounted_counts(study)}
    return render(request, "builder/pilot.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def delete_pilot_data(request, code):
    """Delete every pilot and preview session with its data, after a confirmation page."""
    study = get_study_for_user(request.user, code, write=True)
    counts = lifecycle.uncounted_counts(study)
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            return render(request, "builder/delete_pilot.html", {"study": study, "counts": counts, "error": True}, status=400)
        deleted = lifecycle.delete_uncounted(study, request.user)
        applied = build.apply_draft(study, request.user)
        messages.success(request, f"Deleted {deleted} pilot and preview session{'s' if deleted != 1 else ''}."
                         + (" The draft's changes are now in the study." if applied else ""))
        return redirect("web:pilot", code=study.code)
    return render(request, "builder/delete_pilot.html", {"study": study, "counts": counts})


@require_http_methods(["GET", "POST"])
def pilot_entry(request, code, key):
    """A pilot participant's link: the study's welcome page; Start enrols a pilot participant, in
    any status but closed, outside quotas and (by default) analysis."""
    study = get_object_or_404(Study, code=code)
    if not hmac.compare_digest(key, pilot_key(study)):
        return render(request, "participate/closed.html", {"study": study, "reason": "closed"}, status=404)
    if study.status == Study.Status.CLOSED or not study.arms.exists():
        return closed_response(request, study, "closed" if study.status == Study.Status.CLOSED else "draft")
    if request.method == "POST":
        participant = lifecycle.enroll_uncounted(study, lifecycle.PILOT)
        return remember_owner(redirect("web:participant_home", token=participant.token), request, study, participant)
    return render(request, "participate/welcome.html", {"study": study, "params": {}})
