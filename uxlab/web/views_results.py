"""Researcher views of a study's data: the analysis page with plots, delivery fidelity, and the tidy
downloads (built in downloads.py, shared with the API). Every study is reached through
`get_study_for_user`, so an outsider gets the same 404 as for a study that does not exist."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from uxlab.analysis import plots
from uxlab.analysis.export import FORMATS
from uxlab.analysis.fidelity import arm_fidelity, trial_fidelity_rows
from uxlab.analysis.results import study_results
from uxlab.analysis.live_rows import recent_live_responses
from uxlab.analysis.rows import export_tables, recent_trial_records
from uxlab.analysis.stats import EXCLUSION_RULES
from uxlab.studies.access import get_study_for_user, is_study_owner
from uxlab.web.downloads import psychds_response, rules_from, table_response


@login_required
@require_GET
def results(request, code):
    study = get_study_for_user(request.user, code)
    rules = rules_from(request.GET)
    summary = study_results(study, rules)
    for question in summary["choice_questions"]:
        question["speed_plot"] = mark_safe(plots.psychometric_svg(
            question["psychometric_speed"], "log(tokens/s of faster arm / slower arm)",
            f"{question['question']}: choosing the faster arm against the speed ratio"))
        question["ttft_plot"] = mark_safe(plots.psychometric_svg(
            question["psychometric_ttft"], "TTFT difference (s)",
            f"{question['question']}: choosing the earlier arm against the TTFT difference"))
        question["strength_plot"] = mark_safe(plots.strengths_svg(
            question["bradley_terry"], f"{question['question']}: Bradley-Terry strengths"))
    for question in summary["likert_questions"]:
        question["plot"] = mark_safe(plots.likert_svg(question, f"{question['question']}: answers per arm"))
    context = {
        "study": study,
        "results": summary,
        "rules": [(rule, rule.name in rules) for rule in EXCLUSION_RULES],
        "rule_query": "rules=set" + "".join(f"&rule={name}" for name in rules),
        "tables": list(export_tables().values()),
        "formats": list(FORMATS),
        "is_owner": is_study_owner(request.user, study),
    }
    return render(request, "results/results.html", context)


FIDELITY_TRIALS_SHOWN = 200


@login_required
@require_GET
def fidelity(request, code):
    """How faithfully each arm was shown: a study-level summary and the most recent trials."""
    study = get_study_for_user(request.user, code)
    trials = recent_trial_records(study, FIDELITY_TRIALS_SHOWN)
    context = {
        "study": study,
        "arms": arm_fidelity(trials),
        "trials": trial_fidelity_rows(trials),
        "measured": sum(1 for trial in trials if trial["fidelity"]),
        "shown": FIDELITY_TRIALS_SHOWN,
        "live_responses": recent_live_responses(study, FIDELITY_TRIALS_SHOWN),
    }
    return render(request, "results/fidelity.html", context)


@login_required
@require_GET
def download_table(request, code, table, fmt):
    return table_response(request, get_study_for_user(request.user, code), table, fmt)


@login_required
@require_GET
def download_psychds(request, code):
    return psychds_response(request, get_study_for_user(request.user, code))


@login_required
def ratings_csv(request, code):
    """The ratings table as CSV (the study page's quick download; every table is on the results page)."""
    return table_response(request, get_study_for_user(request.user, code), "ratings", "csv")
