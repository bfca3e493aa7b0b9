"""Researcher views of studies: the list, a study's page, and the live monitor with pause and resume.

Results and downloads: views_results.py; API tokens: views_account.py; participants: views_participant.py.
Every study is reached through `get_study_for_user`, so an outsider gets the same 404 as for a study
that does not exist.
"""

from django.contrib.auth.decorators import login_required
from django.db.models import IntegerField, OuterRef, Subquery
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from uxlab.studies import actions
from uxlab.studies.access import can_write, get_study_for_user
from uxlab.studies.models import Participant, Rating, Study


def home(request):
    if request.user.is_authenticated:
        return redirect("web:study_list")
    return redirect("login")


class SubqueryCount(Subquery):
    """COUNT(*) of a correlated queryset, as a column of the outer query."""

    template = "(SELECT count(*) FROM (%(subquery)s) _count)"
    output_field = IntegerField()


def studies_with_counts(user):
    """The studies this user sees, newest first, each with its participant, completion and rating counts
    (one query however many studies there are)."""
    participants = Participant.objects.filter(study=OuterRef("pk")).values("pk")
    return (
        Study.objects.visible_to(user)
        .select_related("team")
        .annotate(
            participant_count=SubqueryCount(participants),
            completed_count=SubqueryCount(participants.filter(completed_at__isnull=False)),
            rating_count=SubqueryCount(Rating.objects.filter(participant__study=OuterRef("pk")).values("pk")),
        )
        .order_by("-created_at")
    )


@login_required
def study_list(request):
    return render(request, "studies/study_list.html", {"studies": studies_with_counts(request.user)})


@login_required
def study_detail(request, code):
    study = get_study_for_user(request.user, code)
    context = {
        "study": study,
        "counts": actions.study_counts(study),
        "arms": study.arms.all(),
        "prompts": study.prompts.all(),
        "questions": study.questions.all(),
        "participant_link": request.build_absolute_uri(reverse("web:study_entry", args=[study.code])),
    }
    return render(request, "studies/study_detail.html", context)


@login_required
@require_GET
def monitor(request, code):
    study = get_study_for_user(request.user, code)
    return render(request, "studies/monitor.html", {"study": study, "can_write": can_write(request.user, study)})


@login_required
@require_POST
def pause(request, code):
    """The monitor's Pause button: no new participants start; those inside can finish."""
    study = get_study_for_user(request.user, code, write=True)
    actions.pause_study(study, request.user)
    return redirect("web:monitor", code=study.code)


@login_required
@require_POST
def resume(request, code):
    """The monitor's Resume button: open a paused study again."""
    study = get_study_for_user(request.user, code, write=True)
    actions.resume_study(study, request.user)
    return redirect("web:monitor", code=study.code)
