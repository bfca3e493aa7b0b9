"""The study page's builder controls: status buttons, edit, preview, pilot and the YAML download."""

from django import template

from uxlab.studies import drafts
from uxlab.studies.access import can_write
from uxlab.studies.actions import builder as build
from uxlab.studies.actions.lifecycle import available_transitions, uncounted_counts

register = template.Library()


@register.inclusion_tag("builder/_study_controls.html", takes_context=True)
def study_controls(context, study):
    request = context["request"]
    writable = can_write(request.user, study)
    valid = False
    if writable and study.status == study.Status.DRAFT:
        valid = drafts.problems_of(build.draft_of(study).document)[0] is not None
    return {
        "study": study,
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "can_write": writable,
        "transitions": available_transitions(study) if writable else [],
        "valid": valid or study.status != study.Status.DRAFT,
        "applied": study.arms.exists(),
        "uncounted": uncounted_counts(study),
    }
