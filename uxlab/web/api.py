"""The read-only REST API (docs/api.md): studies, results summaries and exports, for tokens
created on /account/tokens/. Every study goes through `get_study_for_user` and the token's scope; errors are JSON
{"error": {"code", "message"}} with a stable code. The OpenAPI schema is built here from the
same table definitions the exports use."""

import functools

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.decorators.http import require_GET

from uxlab.analysis.export import FORMATS
from uxlab.analysis.rows import TABLE_NAMES, export_tables
from uxlab.analysis.stats import EXCLUSION_RULES
from uxlab.streaming import kinds
from uxlab.studies import actions
from uxlab.studies.access import get_study_for_user
from uxlab.studies.api_tokens import token_for_secret
from uxlab.studies.models import Study
from uxlab.web import throttle
from uxlab.web.downloads import psychds_response, results_summary, table_response

CODE_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"


def api_error(status, code, message):
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def token_required(view):
    """Authenticate `Authorization: Bearer <token>`; map a missing study to a JSON 404. Too many bad
    tokens from one address answer 429 for a while (web/throttle.py)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if throttle.api_locked(request):
            response = api_error(429, "too_many_attempts", "Too many invalid tokens; try again later.")
            response["Retry-After"] = str(settings.UXLAB_LOGIN_LOCKOUT_S)
            return response
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        token = token_for_secret(secret.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            throttle.record_api_failure(request)
            response = api_error(401, "unauthorized", "Send a valid token as `Authorization: Bearer <token>`.")
            response["WWW-Authenticate"] = "Bearer"
            return response
        request.user = token.user
        request.api_token = token
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return api_error(404, "not_found", "No such study, table or format.")

    return require_GET(wrapper)


def scoped_study(request, code):
    """The study, if the token's user can see it and the token's scope includes it (else 404)."""
    found = get_study_for_user(request.user, code)
    if not request.api_token.allows(found):
        raise Http404("outside the token's scope")
    return found


def study_summary(study):
    return {
        "code": study.code,
        "title": study.title,
        "status": study.status,
        "team": study.team.slug,
        "created_at": study.created_at.isoformat(),
    }


@token_required
def studies(request):
    visible = Study.objects.visible_to(request.user).select_related("team").order_by("-created_at")
    token = request.api_token
    if token.study_id:
        visible = visible.filter(pk=token.study_id)
    if token.team_id:
        visible = visible.filter(team_id=token.team_id)
    return JsonResponse({"studies": [study_summary(study) for study in visible]})


@token_required
def study(request, code):
    found = scoped_study(request, code)
    return JsonResponse(
        {
            **study_summary(found),
            "description": found.description,
            "arms": [
                {
                    "name": arm.name,
                    "label": arm.label,
                    "kind": arm.kind,
                    "source": arm.source,
                    "profile": kinds.get(arm.kind).describe(arm.profile),
                }
                for arm in found.arms.all()
            ],
            "prompts": [prompt.name for prompt in found.prompts.all()],
            "questions": [
                {"name": q.name, "kind": q.kind, "text": q.text, "ask": "once" if q.asked_once else "every_trial"}
                for q in found.questions.all()
            ],
            "counts": actions.study_counts(found),
        }
    )


@token_required
def results(request, code):
    found = scoped_study(request, code)
    return JsonResponse(results_summary(found, request.GET))


@token_required
def export(request, code, table):
    found = scoped_study(request, code)
    fmt = request.GET.get("format", "csv")
    return table_response(request, found, table, fmt)


@token_required
def psychds(request, code):
    return psychds_response(request, scoped_study(request, code))


# --- OpenAPI -------------------------------------------------------------------------------------

NUMBER = {"type": "number", "nullable": True}
THRESHOLD_SCHEMA = {  # one participant's final estimate on one track (docs/api.md, docs/adaptive.md)
    "type": "object", "required": ["procedure"],
    "properties": {"procedure": {"type": "string", "enum": ["staircase", "quest_plus"]},
                   "log10": NUMBER, "value": NUMBER, "sd_log10": NUMBER, "low_log10": NUMBER, "high_log10": NUMBER,
                   "low_value": NUMBER, "high_value": NUMBER,
                   "reversals": {"type": "integer", "nullable": True},
                   "reversals_used": {"type": "integer", "nullable": True},
                   "interval_clipped": {"type": "boolean", "nullable": True}}}
ADAPTIVE_SCHEMA = {
    "type": "object", "nullable": True,
    "description": "The results page's \"Adaptive thresholds\" section; null for a fixed design.",
    "required": ["procedure", "dimension", "tracks", "group_by", "participants", "per_track", "excluded"],
    "properties": {
        "procedure": {"type": "string", "enum": ["staircase", "quest_plus"]},
        "dimension": {"type": "string"},
        "reference": {"type": "string", "nullable": True},
        "config": {"type": "object"},
        "tracks": {"type": "array", "items": {"type": "string"}},
        "group_by": {"type": "string", "nullable": True},
        "unknown_group_by": {"type": "string"},
        "unknown_group_by_reason": {"type": "string", "enum": ["", "adaptive_question", "no_such_question"]},
        "participants": {"type": "array", "items": {
            "type": "object", "required": ["participant", "excluded", "completed", "trials", "tracks"],
            "properties": {"participant": {"type": "integer"}, "excluded": {"type": "boolean"},
                           "completed": {"type": "boolean"}, "group": {"description": "their first answer to group_by (null without group_by)"},
                           "trials": {"type": "integer"}, "catch_trials": {"type": "integer"},
                           "catch_correct": {"type": "integer"}, "catch_accuracy": NUMBER,
                           "reference_value": NUMBER,
                           "tracks": {"type": "object", "additionalProperties": THRESHOLD_SCHEMA}}}},
        "per_track": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["distribution"],
            "properties": {"distribution": {"type": "object", "required": ["n"]},
                           "by_group": {"type": "object", "nullable": True}}}},
        "not_completed": {"type": "integer"},
        "excluded": {"type": "object", "required": ["participants"]},
    },
}


def _error_response(description):
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def openapi_document():
    code_parameter = {"name": "code", "in": "path", "required": True, "description": "The study's public code.",
                      "schema": {"type": "string", "pattern": CODE_PATTERN}}
    rule_parameters = [
        {"name": "rules", "in": "query", "required": False,
         "description": "`set` to apply exactly the `rule` values given (none: no exclusions); omitted: every rule except `did_not_complete` (off by default: partial data are kept).",
         "schema": {"type": "string", "enum": ["set"]}},
        {"name": "rule", "in": "query", "required": False, "style": "form", "explode": True,
         "description": "An exclusion rule to apply (with rules=set).",
         "schema": {"type": "array", "items": {"type": "string", "enum": [r.name for r in EXCLUSION_RULES]}}},
    ]
    option_parameters = [
        {"name": "ties", "in": "query", "required": False,
         "description": "How \"no difference\" answers enter the models: half a choice each way (default), "
                        "their own outcome (Davidson), or left out.",
         "schema": {"type": "string", "enum": ["half", "davidson", "drop"], "default": "half"}},
        {"name": "speeds", "in": "query", "required": False,
         "description": "Fit against the arms' declared speeds and TTFTs (default) or those each browser displayed.",
         "schema": {"type": "string", "enum": ["declared", "displayed"], "default": "declared"}},
        {"name": "level", "in": "query", "required": False,
         "description": "A threshold level besides 75% (0.5 < level < 1).",
         "schema": {"type": "number", "minimum": 0.5, "exclusiveMinimum": True, "maximum": 1,
                    "exclusiveMaximum": True, "default": 0.75}},
    ]
    group_parameter = {"name": "group_by", "in": "query", "required": False,
                       "description": "Adaptive designs: group thresholds by each participant's first answer to "
                                      "this question (an unknown name is ignored and echoed as unknown_group_by).",
                       "schema": {"type": "string", "maxLength": 60}}
    ids_parameter = {"name": "external_ids", "in": "query", "required": False,
                     "description": "Owners only (logged): include panel ids such as PROLIFIC_PID.",
                     "schema": {"type": "string", "enum": ["0", "1"]}}
    common = {"401": _error_response("Missing, unknown, expired or revoked token."),
              "404": _error_response("No such study visible to this token's user or within its scope (or unknown table)."),
              "429": _error_response("Too many invalid tokens from this address; retry after Retry-After seconds.")}
    tables = [name for name in TABLE_NAMES if name in export_tables()]
    table_columns = {name: [c.name for c in table.columns] for name, table in export_tables(True).items()}
    return {
        "openapi": "3.0.3",
        "info": {"title": "uxlab API", "version": "1",
                 "description": "Read-only access to studies, results summaries and exports. See docs/api.md."},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/v1/studies": {"get": {
                "operationId": "listStudies", "summary": "Studies the token's user can see",
                "responses": {"200": {"description": "The studies.", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["studies"],
                    "properties": {"studies": {"type": "array", "items": {"$ref": "#/components/schemas/StudySummary"}}},
                }}}}, "401": common["401"], "429": common["429"]}}},
            "/api/v1/studies/{code}": {"get": {
                "operationId": "getStudy", "summary": "A study's definition and counts",
                "parameters": [code_parameter],
                "responses": {"200": {"description": "The study.", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Study"}}}}, **common}}},
            "/api/v1/studies/{code}/results": {"get": {
                "operationId": "getResults",
                "summary": "Analysis summary: one summary per question, by its kind (docs/analysis.md)",
                "parameters": [code_parameter, *rule_parameters, *option_parameters, group_parameter],
                "responses": {"200": {"description": "The results.", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Results"}}}}, **common}}},
            "/api/v1/studies/{code}/exports/{table}": {"get": {
                "operationId": "exportTable", "summary": "One tidy table as CSV, JSON Lines or Parquet (streamed)",
                "description": "Columns per table: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in table_columns.items()),
                "parameters": [
                    code_parameter,
                    {"name": "table", "in": "path", "required": True, "schema": {"type": "string", "enum": tables}},
                    {"name": "format", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": list(FORMATS), "default": "csv"}},
                    *rule_parameters, ids_parameter,
                ],
                "responses": {"200": {"description": "The table.", "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                }}, **common}}},
            "/api/v1/studies/{code}/psychds.zip": {"get": {
                "operationId": "exportPsychDS", "summary": "Psych-DS bundle (zip) of every table",
                "parameters": [code_parameter, *rule_parameters, ids_parameter],
                "responses": {"200": {"description": "The bundle.", "content": {
                    "application/zip": {"schema": {"type": "string", "format": "binary"}}}}, **common}}},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
                "StudySummary": {"type": "object", "required": ["code", "title", "status", "team", "created_at"],
                                 "properties": {"code": {"type": "string"}, "title": {"type": "string"},
                                                "status": {"type": "string", "enum": [s for s, _ in Study.Status.choices]},
                                                "team": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}},
                "Study": {"allOf": [{"$ref": "#/components/schemas/StudySummary"}, {
                    "type": "object", "required": ["arms", "prompts", "questions", "counts"],
                    "properties": {"description": {"type": "string"},
                                   "arms": {"type": "array", "items": {"type": "object", "required": ["name", "kind", "profile"]}},
                                   "prompts": {"type": "array", "items": {"type": "string"}},
                                   "questions": {"type": "array", "items": {"type": "object", "required": ["name", "kind"]}},
                                   "counts": {"type": "object", "additionalProperties": {"type": "integer"}}}}]},
                "Results": {"type": "object",
                            "required": ["study", "arms", "options", "exclusions", "answers_kept", "questions", "adaptive"],
                            "properties": {"study": {"type": "string"}, "arms": {"type": "array", "items": {"type": "string"}},
                                           "options": {"type": "object", "required": ["ties", "speeds", "level", "n_boot"]},
                                           "exclusions": {"type": "object", "required": ["total", "excluded", "kept", "rules"]},
                                           "answers_kept": {"type": "integer"},
                                           "questions": {"type": "array", "items": {"type": "object",
                                               "required": ["summary", "question", "kind", "text"],
                                               "properties": {"summary": {"type": "string", "enum": [
                                                   "choice", "likert", "slider", "wait_estimate", "free_text"]}}}},
                                           "adaptive": {"$ref": "#/components/schemas/Adaptive"}}},
                "Adaptive": ADAPTIVE_SCHEMA,
            },
        },
    }


@require_GET
def openapi(request):
    return JsonResponse(openapi_document())
