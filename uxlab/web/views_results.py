"""Researcher views of a study's data: the analysis page with plots, delivery fidelity, and the tidy
downloads (built in downloads.py, shared with the API). Every study is reached through
`get_study_for_user`, so an outsider gets the same 404 as for a study that does not exist."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from uxlab.analysis import plots
from uxlab.analysis.adaptive_rows import adaptive_for
from uxlab.analysis.export import FORMATS, iter_csv
from uxlab.analysis.fidelity import arm_fidelity, clock_fidelity, trial_fidelity_rows
from uxlab.analysis.live_rows import recent_live_responses
from uxlab.analysis.results import FREE_TEXT_COLUMNS, free_text_rows, options_from, study_results
from uxlab.analysis.rows import export_tables, recent_trial_records
from uxlab.analysis.stats import EXCLUSION_RULES
from uxlab.studies.access import get_study_for_user, is_study_owner
from uxlab.studies.command_lines import simulate_command
from uxlab.web import views_jobs
from uxlab.web.downloads import psychds_response, results_summary, rules_from, table_response

SUMMARY_TEMPLATES = {
    "choice": "results/_choice.html",
    "likert": "results/_likert.html",
    "slider": "results/_slider.html",
    "wait_estimate": "results/_wait_estimate.html",
    "free_text": "results/_free_text.html",
}
SPEED_AXIS = {"declared": "log speed ratio, faster/slower (declared)",
              "displayed": "log speed ratio, faster/slower (as displayed)"}


def figure(svg, caption, table):
    """A plot with its caption and its numbers as a table (results/_plot.html); None without a plot."""
    if not svg:
        return None
    headers, rows = table
    return {"svg": mark_safe(svg), "caption": caption, "headers": headers, "rows": rows}


def add_plots(summary):
    """Inline SVG for each summary that has a picture (drawn from the summary alone), each with a
    table of its numbers for readers who cannot see it."""
    for question in summary["questions"]:
        question["template"] = SUMMARY_TEMPLATES[question["summary"]]
        name = question["question"]
        if question["summary"] == "choice":
            speeds = summary["options"]["speeds"]
            caption = f"{name}: choosing the faster arm against the speed ratio"
            question["speed_plot"] = figure(plots.psychometric_svg(
                question["psychometric_speed"], SPEED_AXIS[speeds], caption), caption,
                plots.psychometric_table(question["psychometric_speed"]))
            caption = f"{name}: choosing the earlier arm against the TTFT ratio"
            question["ttft_plot"] = figure(plots.psychometric_svg(
                question["psychometric_ttft"], "log TTFT ratio, later/earlier", caption), caption,
                plots.psychometric_table(question["psychometric_ttft"], "chose the earlier arm"))
            caption = f"{name}: Bradley-Terry strengths"
            question["strength_plot"] = figure(plots.strengths_svg(question["bradley_terry"], caption), caption,
                                               plots.strengths_table(question["bradley_terry"]))
            caption = f"{name}: Bradley-Terry differences between arms"
            question["difference_plot"] = figure(plots.differences_svg(question["bradley_terry"], caption), caption,
                                                 plots.differences_table(question["bradley_terry"]))
        elif question["summary"] == "likert":
            caption = f"{name}: answers by level"
            question["plot"] = figure(plots.likert_svg(question, caption), caption,
                                      plots.likert_table(question, "Arm" if question.get("per_pane") else "Pair"))
    return summary


def adaptive_section(study, group_by, rules):
    """The adaptive design's thresholds with their plots, or None for a fixed design. ``group_by``
    names a question (anything else is ignored, and the page says so); the participant rules among
    ``rules`` leave participants out."""
    section = adaptive_for(study, group_by, rules)
    if section is None:
        return None
    dimension = section["config"]["dimension"]
    for person in section["participants"]:
        estimates = {track: person["tracks"][track] for track in section["tracks"] if track in person["tracks"]}
        person["plot"] = mark_safe(plots.adaptive_track_svg(
            person["steps"], person["reference_value"], f"participant {person['participant']}: track of {dimension}",
            estimates))
    section["threshold_plots"] = {
        track: mark_safe(plots.thresholds_svg(
            [{"label": f"participant {person['participant']}", **person["tracks"].get(track, {})}
             for person in section["participants"]],
            f"{track}: each participant's threshold with its 95% interval", f"log10 {dimension}"))
        for track in section["tracks"]
    }
    return section


def analysis_query(rules, options, group_by=""):
    """The query string that reproduces the page's rules and options (for downloads and links)."""
    return urlencode([("rules", "set"), *(("rule", name) for name in rules), ("ties", options.ties),
                      ("speeds", options.speeds), ("level", options.level),
                      *((("group_by", group_by),) if group_by else ())])


@login_required
@require_GET
def results(request, code):
    study = get_study_for_user(request.user, code)
    rules = rules_from(request.GET)
    options = options_from(request.GET)
    group_by = request.GET.get("group_by", "")[:60]
    summary = add_plots(study_results(study, rules, options))
    context = {
        "study": study,
        "results": summary,
        "options": options,
        "rules": [(rule, rule.name in rules) for rule in EXCLUSION_RULES],
        "rule_query": analysis_query(rules, options, group_by),
        "tables": list(export_tables().values()),
        "formats": list(FORMATS),
        "is_owner": is_study_owner(request.user, study),
        "adaptive": adaptive_section(study, group_by, rules),
        "simulate_command": simulate_command(study.code),
    }
    return render(request, "results/results.html", context)


@login_required
@require_GET
def download_summary(request, code):
    """The page's summary as JSON (the API's results), with the same rules, options and bootstrap."""
    study = get_study_for_user(request.user, code)
    summary = results_summary(study, request.GET)
    response = JsonResponse(summary, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{study.code}-summary.json"'
    return response


@login_required
@require_GET
def download_free_text(request, code, question):
    """Every answer to one free-text question, with its participant and arms, as CSV; rows the
    exclusion rules in force leave out are flagged, not dropped."""
    study = get_study_for_user(request.user, code)
    rows = free_text_rows(study, question, rules_from(request.GET))
    if rows is None:
        raise Http404("No such free-text question.")
    response = HttpResponse(b"".join(iter_csv(FREE_TEXT_COLUMNS, rows)), content_type=FORMATS["csv"])
    response["Content-Disposition"] = f'attachment; filename="{study.code}-{question}.csv"'
    return response


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
        "clock": clock_fidelity(trials),
        "trials": trial_fidelity_rows(trials),
        "measured": sum(1 for trial in trials if trial["fidelity"]),
        "shown": FIDELITY_TRIALS_SHOWN,
        "live_responses": recent_live_responses(study, FIDELITY_TRIALS_SHOWN),
    }
    return render(request, "results/fidelity.html", context)


@login_required
@require_GET
def download_table(request, code, table, fmt):
    study = get_study_for_user(request.user, code)
    if request.GET.get("stream") != "1" and views_jobs.is_large(study):  # a background job, with progress
        return views_jobs.large_export_page(request, study, {"target": "table", "table": table, "format": fmt})
    return table_response(request, study, table, fmt)


@login_required
@require_GET
def download_psychds(request, code):
    study = get_study_for_user(request.user, code)
    if request.GET.get("stream") != "1" and views_jobs.is_large(study):
        return views_jobs.large_export_page(request, study, {"target": "psychds"})
    return psychds_response(request, study)


@login_required
def ratings_csv(request, code):
    """The ratings table as CSV (the study page's quick download; every table is on the results page)."""
    return table_response(request, get_study_for_user(request.user, code), "ratings", "csv")
