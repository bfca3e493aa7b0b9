"""Sharing a study: the participant link (plain and with Prolific's query suffix) with copy
buttons, and a page that says exactly how to set the study up on Prolific."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from uxlab.studies.access import can_write, get_study_for_user
from uxlab.studies.models import Participant
from uxlab.web.views_participant import PROLIFIC_PARAMS

# Prolific fills these placeholders in when "URL parameters" are on (its study-link settings).
PROLIFIC_SUFFIX = "?" + "&".join(f"{name}={{{{%{name}%}}}}" for name in PROLIFIC_PARAMS)

OUTCOMES = [
    (Participant.Outcome.COMPLETED, "Completed the study", "Approve and pay"),
    (Participant.Outcome.FAILED_ATTENTION, "Completed, but failed an attention check", "Manually review (Prolific's attention-check policy applies)"),
    (Participant.Outcome.BACKEND_FAILURE, "Completed, with a trial skipped because a live backend failed", "Approve and pay (the failure was not theirs)"),
    (Participant.Outcome.TIMED_OUT, "Session expired after reaching a trial", "Manually review"),
]


def share_links(request, study):
    """The participant link and the same link with Prolific's suffix."""
    link = request.build_absolute_uri(reverse("web:study_entry", args=[study.code]))
    return {"participant_link": link, "prolific_link": link + PROLIFIC_SUFFIX}


def outcome_codes(study):
    """Each outcome with the code and URL participants with it are shown, and whether that is the
    main code (then Prolific cannot tell the outcomes apart)."""
    rows = []
    for outcome, meaning, action in OUTCOMES:
        code, url = study.completion_for(outcome)
        own = bool((study.completion_outcomes or {}).get(outcome))
        rows.append({"outcome": outcome.value, "meaning": meaning, "action": action, "code": code, "url": url,
                     "own": own or outcome == Participant.Outcome.COMPLETED})
    return rows


@login_required
@require_GET
def prolific(request, code):
    study = get_study_for_user(request.user, code)
    context = {
        "study": study,
        **share_links(request, study),
        "outcomes": outcome_codes(study),
        "can_write": can_write(request.user, study),
        "time_limit_minutes": study.session.time_limit_minutes,
    }
    return render(request, "studies/prolific.html", context)
