"""Sharing a study: the participant link (plain and with Prolific's query suffix) with copy
buttons, and a page that says exactly how to set the study up on Prolific."""

from urllib.parse import parse_qs, urlsplit

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from uxlab.studies.access import can_write, get_study_for_user
from uxlab.studies.models import Participant
from uxlab.web.views_participant import PROLIFIC_PARAMS

# Prolific fills these placeholders in when "URL parameters" are on (its study-link settings).
PROLIFIC_SUFFIX = "?" + "&".join(f"{name}={{{{%{name}%}}}}" for name in PROLIFIC_PARAMS)
# Where a participant is sent back to Prolific with a completion code (Prolific's "completion URL").
PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc="

# Each outcome: what it means, and the action to give its completion code on Prolific.
OUTCOMES = [
    (Participant.Outcome.COMPLETED, "Completed the study", "Approve and pay"),
    (Participant.Outcome.FAILED_ATTENTION, "Completed, but failed an attention check",
     "Manually review (Prolific's attention-check rules apply)"),
    (Participant.Outcome.BACKEND_FAILURE, "Completed, with a trial skipped because a live backend failed",
     "Approve and pay (the failure was not theirs)"),
    (Participant.Outcome.TIMED_OUT, "Session expired after reaching a trial", "Manually review"),
    (Participant.Outcome.INCOMPLETE, "Reached the end with trials skipped by their own reloads", "Manually review"),
]


def share_links(request, study):
    """The participant link and the same link with Prolific's suffix."""
    link = request.build_absolute_uri(reverse("web:study_entry", args=[study.code]))
    return {"participant_link": link, "prolific_link": link + PROLIFIC_SUFFIX}


def redirect_problem(code, url):
    """Why a completion URL would not record this code on Prolific, or ""."""
    if not url or not code:
        return ""
    parts = urlsplit(url)
    if parts.hostname not in ("app.prolific.com", "app.prolific.co"):
        return "not Prolific's completion URL: Prolific records no code from it"
    given = parse_qs(parts.query).get("cc", [""])[0]
    if given != code:
        return f"its cc is '{given}', not the code '{code}': Prolific records '{given}'" if given else "it has no cc"
    return ""


def outcome_codes(study):
    """Each outcome with the code and URL participants with it are shown, whether that is the main
    code (then Prolific cannot tell the outcomes apart), the completion URL that returns the code to
    Prolific, and what is wrong with the study's own URL for it, if anything."""
    rows = []
    for outcome, meaning, action in OUTCOMES:
        code, url = study.completion_for(outcome)
        own = bool((study.completion_outcomes or {}).get(outcome))
        rows.append({"outcome": outcome.value, "meaning": meaning, "action": action, "code": code, "url": url,
                     "own": own or outcome == Participant.Outcome.COMPLETED,
                     "prolific_url": PROLIFIC_COMPLETION_URL + code if code else "",
                     "url_problem": redirect_problem(code, url)})
    return rows


@login_required
@require_GET
def prolific(request, code):
    study = get_study_for_user(request.user, code)
    session = study.session
    context = {
        "study": study,
        **share_links(request, study),
        "outcomes": outcome_codes(study),
        "can_write": can_write(request.user, study),
        "time_limit_minutes": session.time_limit_minutes,
        "require_participant_id": session.require_participant_id,
        "prolific_completion_url": PROLIFIC_COMPLETION_URL,
    }
    return render(request, "studies/prolific.html", context)
