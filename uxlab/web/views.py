"""HTTP views: researcher pages and downloads, and the participant's pages around the trials."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from uxlab.analysis.export import iter_ratings_csv
from uxlab.analysis.rows import rating_rows
from uxlab.studies import actions
from uxlab.studies.access import get_study_for_user
from uxlab.studies.models import Participant, Study

PROLIFIC_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")


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
    study = get_study_for_user(request.user, code)
    response = StreamingHttpResponse(iter_ratings_csv(rating_rows(study)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="study-{study.code}_ratings.csv"'
    return response


# --- Participants --------------------------------------------------------------------------------


def get_participant(token):
    participant = Participant.objects.select_related("study").filter(token=token).first()
    if participant is None:
        raise Http404("This study link is not valid.")
    return participant


def closed_response(request, study):
    return render(request, "participate/closed.html", {"study": study}, status=200)


@require_http_methods(["GET", "POST"])
def study_entry(request, code):
    """The welcome page; a participant is allocated only when they press Start (not by link previews)."""
    study = get_object_or_404(Study, code=code)
    external_id = (request.POST if request.method == "POST" else request.GET).get("PROLIFIC_PID", "").strip()
    if external_id:
        known = actions.find_participant_by_external_id(study, "prolific", external_id)
        if known is not None:
            return redirect("web:participant_home", token=known.token)
    if not study.is_open:
        return closed_response(request, study)
    if request.method == "POST":
        participant = actions.enroll_participant(
            study,
            panel="prolific" if external_id else None,
            external_id=external_id[:200],
            panel_study_id=request.POST.get("STUDY_ID", "")[:200],
            panel_session_id=request.POST.get("SESSION_ID", "")[:200],
        )
        return redirect("web:participant_home", token=participant.token)
    params = {name: request.GET.get(name, "")[:200] for name in PROLIFIC_PARAMS}
    return render(request, "participate/welcome.html", {"study": study, "params": params})


def participant_home(request, token):
    """Send the participant to the step they are on."""
    participant = get_participant(token)
    if participant.status == Participant.Status.DECLINED:
        return render(request, "participate/declined.html", {"study": participant.study})
    if not participant.has_consented:
        return redirect("web:consent", token=token)
    if actions.pending_trial(participant) is not None:
        return redirect("web:trial", token=token)
    return redirect("web:done", token=token)


@require_http_methods(["GET", "POST"])
def consent(request, token):
    participant = get_participant(token)
    if participant.has_consented or participant.status == Participant.Status.DECLINED:
        return redirect("web:participant_home", token=token)
    if request.method == "POST":
        if request.POST.get("decision") == "agree":
            if not participant.study.is_open:
                return closed_response(request, participant.study)
            actions.give_consent(participant)
        else:
            actions.decline_consent(participant)
        return redirect("web:participant_home", token=token)
    return render(request, "participate/consent.html", {"participant": participant, "study": participant.study})


def trial(request, token):
    participant = get_participant(token)
    if not participant.has_consented:
        return redirect("web:participant_home", token=token)
    current = actions.pending_trial(participant)
    if current is None:
        return redirect("web:done", token=token)
    study = participant.study
    context = {
        "participant": participant,
        "study": study,
        "trial": current,
        "trial_number": current.index + 1,
        "trial_count": participant.trials.count(),
        "questions": study.questions.all(),
    }
    return render(request, "participate/trial.html", context)


def done(request, token):
    participant = get_participant(token)
    if not actions.complete_participant(participant):
        return redirect("web:participant_home", token=token)
    study = participant.study
    return render(request, "participate/done.html", {"study": study, "completion_url": study.completion_url})
