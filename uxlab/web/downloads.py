"""Study data as downloads (CSV, JSON Lines, Parquet, a Psych-DS zip), streamed in flat memory.

The one place both the researcher pages and the API build a download: the exclusion rules and
panel-id option come from the query string, panel ids go to owners only and are logged.
"""

from django.http import Http404, StreamingHttpResponse

from uxlab.analysis.export import FORMATS, iter_psychds_zip
from uxlab.analysis.adaptive_rows import adaptive_for, adaptive_json
from uxlab.analysis.results import default_rules, options_from, parse_rules, study_results
from uxlab.analysis.rows import ExportOptions, export_tables, table_chunks
from uxlab.studies import actions
from uxlab.studies.access import is_study_owner
from uxlab.studies.study_files import export_study


def rules_from(params):
    """Exclusion rules in force: all of them unless the form says which (`rules=set` + `rule=...`)."""
    if params.get("rules") == "set":
        return parse_rules(params.getlist("rule"))
    return default_rules()


def export_options(request, study):
    """The rules and panel-id choice of this request; panel ids for the study's owners only (404)."""
    include_ids = request.GET.get("external_ids") == "1"
    if include_ids and not is_study_owner(request.user, study):
        raise Http404("Only the study's owners can export panel ids.")
    return ExportOptions(exclusion_rules=tuple(rules_from(request.GET)), include_external_ids=include_ids)


def table_response(request, study, table_name, fmt):
    """A streamed download of one table; 404 for an unknown table or format."""
    if fmt not in FORMATS:
        raise Http404("Unknown format.")
    options = export_options(request, study)
    table = export_tables(options.include_external_ids).get(table_name)
    if table is None:
        raise Http404("Unknown table.")
    if options.include_external_ids:
        actions.record_external_id_export(study, request.user, table_name, fmt)
    response = StreamingHttpResponse(table_chunks(table, fmt, study, options), content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="study-{study.code}_table-{table.name}_data.{fmt}"'
    return response


def psychds_response(request, study):
    """Every table and the study file as one Psych-DS zip, streamed."""
    options = export_options(request, study)
    tables = list(export_tables(options.include_external_ids).values())
    if options.include_external_ids:
        actions.record_external_id_export(study, request.user, "psychds", "zip")
    chunks = iter_psychds_zip(study, tables, lambda table: table.rows(study, options), export_study(study))
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="study-{study.code}_psychds.zip"'
    return response


def results_summary(study, params):
    """The results page as JSON (summary.json and the API's results): every question's summary and,
    key ``adaptive``, the adaptive thresholds (null for a fixed design), with the same rules,
    options and ``group_by`` as the page."""
    rules = rules_from(params)
    summary = study_results(study, rules, options_from(params))
    summary["adaptive"] = adaptive_json(adaptive_for(study, params.get("group_by", "")[:60], rules))
    return summary
