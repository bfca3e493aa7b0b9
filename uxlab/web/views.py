"""HTTP views: researcher pages and downloads (participant pages: views_participant.py)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from uxlab.studies import actions
from uxlab.studies.access import get_study_for_user
from uxlab.studies.models import Study
from uxlab.web.views_results import table_response


def home(request):
    if request.user.is_authenticated:
        return redirect("web:study_list")
    return redirect("login")


# --- Researchers ---------------------------------------------------------------------------------


@login_required
def study_list(request):
    studies = Study.objects.visible_to(request.user).select_related("team").order_by("-created_at")
    rows = [(study, actions.study_counts(study)) for study in studies]
    return render(request, "studies/study_list.html", {"rows": rows})


@login_required
def study_detail(request, code):
    study = get_study_for_user(request.user, code)
    context = {
        "study": study,
        "counts": actions.study_counts(study),
        "arms": study.arms.all(),
        "prompts": study.prompts.all(),
        "questions": study.questions.all(),
        "participant_link": request.build_absolute_uri(f"/s/{study.code}/"),
    }
    return render(request, "studies/study_detail.html", context)


@login_required
def ratings_csv(request, code):
    """The ratings table as CSV (the study page's quick download; every table is on the results page)."""
    study = get_study_for_user(request.user, code)
    return table_response(request, study, "ratings", "csv")


# Participant pages: uxlab/web/views_participant.py
