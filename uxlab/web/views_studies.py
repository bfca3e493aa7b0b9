"""Researcher views of studies: the list, a study's page, and the live monitor with pause and resume.

Results and downloads: views_results.py; API tokens: views_account.py; participants: views_participant.py.
Withdrawing a participant on the team's side is here too (owners and editors; panel-id look-up: owners).
Every study is reached through `get_study_for_user`, so an outsider gets the same 404 as for a study
that does not exist.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import IntegerField, OuterRef, Subquery
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from uxlab.studies import actions
from uxlab.studies.access import can_write, get_study_for_user, is_study_owner
from uxlab.studies.models import AuditEntry, Participant, Rating, Study

# The study page lists this many of the latest audit entries (operators see all in the admin).
AUDIT_ENTRIES_SHOWN = 30


def home(request):
    if request.user.is_authenticated:
        return redirect("web:study_list")
    return redirect("login")


class SubqueryCount(Subquery):
    """COUNT(*) of a correlated queryset, as a column of the outer query."""

    template = "(SELECT count(*) FROM (%(subquery)s) _count)"
    output_field = IntegerField()


def studies_with_counts(user):
    """The studies this user sees, newest first, each with its real participants', completions' and
    ratings' counts, as on the study page (pilots and previews apart; one query however many studies)."""
    participants = Participant.objects.filter(study=OuterRef("pk"), mode="").values("pk")
    return (
        Study.objects.visible_to(user)
        .select_related("team")
        .annotate(
            participant_count=SubqueryCount(participants),
            completed_count=SubqueryCount(participants.filter(completed_at__isnull=False)),
            rating_count=SubqueryCount(Rating.objects.filter(participant__study=OuterRef("pk"), participant__mode="")
                                       .values("pk")),
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
        "can_write": can_write(request.user, study),
        "audit_entries": study.audit_entries.select_related("user")[:AUDIT_ENTRIES_SHOWN],
        "privacy_actions": AuditEntry.Action.values,
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


def parse_number(text):
    """A participant number from a form, or None when it is not a positive whole number."""
    text = (text or "").strip().lstrip("#")
    return int(text) if text.isdigit() and 0 < len(text) <= 18 else None


@login_required
@require_http_methods(["GET", "POST"])
def withdraw_participant(request, code):
    """Withdraw a participant at their request (e.g. a message through the panel): find them by
    number (owners and editors) or panel id (owners only, who alone may link panel ids to answers),
    confirm, then actions.withdraw_participant, audited with the researcher's name."""
    study = get_study_for_user(request.user, code, write=True)
    owner = is_study_owner(request.user, study)
    context = {"study": study, "owner": owner, "number": "", "panel_id": "", "error": "", "found": None}
    if request.method == "POST":
        number = parse_number(request.POST.get("participant"))
        participant = actions.find_participant_to_withdraw(study, number=number) if number else None
        if participant is None:
            context["error"] = "This study has no participant with that number."
            return render(request, "studies/withdraw.html", context, status=404)
        if actions.withdraw_participant(participant, Participant.WithdrawnBy.RESEARCHER, user=request.user):
            messages.success(request, f"Participant {participant.pk} is withdrawn and their data deleted.")
        else:
            messages.info(request, f"Participant {participant.pk} had already withdrawn.")
        return redirect("web:study_detail", code=study.code)
    number_text = request.GET.get("number", "").strip()[:40]
    panel_id = request.GET.get("panel_id", "").strip()[:200] if owner else ""
    context.update(number=number_text, panel_id=panel_id)
    if not number_text and not panel_id:
        return render(request, "studies/withdraw.html", context)
    if number_text and parse_number(number_text) is None:
        context["error"] = "A participant number is a whole number, as in the downloads' participant column."
        return render(request, "studies/withdraw.html", context, status=400)
    found = actions.find_participant_to_withdraw(study, number=parse_number(number_text), panel_id=panel_id)
    if found is None:
        context["error"] = "This study has no participant with that " + ("number." if number_text else "panel id.")
        return render(request, "studies/withdraw.html", context, status=404)
    context["found"] = found
    context["answers"] = found.ratings.count()
    return render(request, "studies/withdraw.html", context)
