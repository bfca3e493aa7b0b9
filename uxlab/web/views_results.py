"""Researcher views for results: the analysis page with plots, the live monitor page, pause and
resume, tidy downloads, and API token management. Every study is reached through
`get_study_for_user`, so an outsider gets the same 404 as for a study that does not exist."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from uxlab.analysis import plots
from uxlab.analysis.fidelity import arm_fidelity, trial_fidelity_rows
from uxlab.analysis.export import FORMATS, iter_psychds_zip
from uxlab.analysis.results import default_rules, parse_rules, study_results
from uxlab.analysis.rows import ExportOptions, export_tables, recent_trial_records, table_chunks
from uxlab.analysis.stats import EXCLUSION_RULES
from uxlab.studies import actions
from uxlab.studies.access import get_study_for_user, is_study_owner
from uxlab.studies.api_tokens import create_api_token, revoke_api_token
from uxlab.studies.study_files import export_study


def rules_from(params):
    """Exclusion rules in force: all of them unless the form says which (`rules=set` + `rule=...`)."""
    if params.get("rules") == "set":
        return parse_rules(params.getlist("rule"))
    return default_rules()


def export_options(request, study, rules):
    include_ids = request.GET.get("external_ids") == "1"
    if include_ids and not is_study_owner(request.user, study):
        raise Http404("Only the study's owners can export panel ids.")
    return ExportOptions(exclusion_rules=tuple(rules), include_external_ids=include_ids)


def table_response(request, study, table_name, fmt):
    """A streamed download of one table (flat memory however large the study)."""
    if fmt not in FORMATS:
        raise Http404("Unknown format.")
    options = export_options(request, study, rules_from(request.GET))
    tables = export_tables(options.include_external_ids)
    table = tables.get(table_name)
    if table is None:
        raise Http404("Unknown table.")
    if options.include_external_ids:
        actions.record_external_id_export(study, request.user, table_name, fmt)
    response = StreamingHttpResponse(table_chunks(table, fmt, study, options), content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="study-{study.code}_table-{table.name}_data.{fmt}"'
    return response


def psychds_response(request, study):
    options = export_options(request, study, rules_from(request.GET))
    tables = list(export_tables(options.include_external_ids).values())
    if options.include_external_ids:
        actions.record_external_id_export(study, request.user, "psychds", "zip")
    chunks = iter_psychds_zip(study, tables, lambda table: table.rows(study, options), export_study(study))
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="study-{study.code}_psychds.zip"'
    return response


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
@require_GET
def monitor(request, code):
    study = get_study_for_user(request.user, code)
    can_write = study in type(study).objects.writable_by(request.user)
    return render(request, "results/monitor.html", {"study": study, "can_write": can_write})


@login_required
@require_POST
def pause(request, code):
    study = get_study_for_user(request.user, code, write=True)
    actions.pause_study(study)
    return redirect("web:monitor", code=study.code)


@login_required
@require_POST
def resume(request, code):
    study = get_study_for_user(request.user, code, write=True)
    actions.resume_study(study)
    return redirect("web:monitor", code=study.code)


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    secret = None
    if request.method == "POST":
        _token, secret = create_api_token(request.user, request.POST.get("name", "").strip())
    tokens = request.user.api_tokens.all()
    return render(request, "results/api_tokens.html", {"tokens": tokens, "secret": secret})


@login_required
@require_POST
def revoke_token(request, token_id):
    if not revoke_api_token(request.user, token_id):
        raise Http404("No such token.")
    messages.info(request, "Token revoked.")
    return redirect("web:api_tokens")
