from django.urls import path

from uxlab.web import (
    api,
    views_account,
    views_jobs,
    views_participant,
    views_results,
    views_sharing,
    views_studies,
    views_teams,
    views_workspace,
)
from uxlab.web.builder import views as builder
from uxlab.web.builder import views_adaptive as builder_adaptive
from uxlab.web.builder import views_run as builder_run

app_name = "web"

urlpatterns = [
    path("", views_studies.home, name="home"),
    # Researchers: studies and the live monitor (views_studies.py)
    path("studies/", views_studies.study_list, name="study_list"),
    path("studies/<slug:code>/", views_studies.study_detail, name="study_detail"),
    path("studies/<slug:code>/monitor/", views_studies.monitor, name="monitor"),
    path("studies/<slug:code>/pause/", views_studies.pause, name="pause"),
    path("studies/<slug:code>/resume/", views_studies.resume, name="resume"),
    path("studies/<slug:code>/withdraw/", views_studies.withdraw_participant, name="withdraw_participant"),
    # Researchers: results and downloads (views_results.py)
    path("studies/<slug:code>/ratings.csv", views_results.ratings_csv, name="ratings_csv"),
    path("studies/<slug:code>/results/", views_results.results, name="results"),
    path("studies/<slug:code>/fidelity/", views_results.fidelity, name="fidelity"),
    path("studies/<slug:code>/data/psychds.zip", views_results.download_psychds, name="download_psychds"),
    path("studies/<slug:code>/data/summary.json", views_results.download_summary, name="download_summary"),
    path("studies/<slug:code>/data/free-text/<slug:question>.csv", views_results.download_free_text,
         name="download_free_text"),
    path("studies/<slug:code>/data/<slug:table>.<slug:fmt>", views_results.download_table, name="download_table"),
    # Researchers: their account (views_account.py)
    path("account/tokens/", views_account.api_tokens, name="api_tokens"),
    path("account/tokens/<int:token_id>/revoke/", views_account.revoke_token, name="revoke_token"),
    # Read-only API (docs/api.md)
    path("api/v1/openapi.json", api.openapi, name="api_openapi"),
    path("api/v1/studies", api.studies, name="api_studies"),
    path("api/v1/studies/<str:code>", api.study, name="api_study"),
    path("api/v1/studies/<str:code>/results", api.results, name="api_results"),
    path("api/v1/studies/<str:code>/exports/<str:table>", api.export, name="api_export"),
    path("api/v1/studies/<str:code>/psychds.zip", api.psychds, name="api_psychds"),
    # Participants (views_participant.py)
    path("s/<slug:code>/", views_participant.study_entry, name="study_entry"),
    path("p/<str:token>/", views_participant.participant_home, name="participant_home"),
    path("p/<str:token>/checks/", views_participant.checks, name="checks"),
    path("p/<str:token>/consent/", views_participant.consent, name="consent"),
    path("p/<str:token>/instructions/", views_participant.instructions, name="instructions"),
    path("p/<str:token>/trial/", views_participant.trial, name="trial"),
    path("p/<str:token>/extend/", views_participant.extend, name="extend_session"),
    path("p/<str:token>/done/", views_participant.done, name="done"),
    path("p/<str:token>/unconfirmed/", views_participant.unconfirmed, name="unconfirmed"),
    # Researchers: the workspace (issue 14): first run, importing, teams, sharing, background jobs
    path("start/", views_workspace.start, name="start"),
    path("import/", views_workspace.import_study_page, name="import_study"),
    path("teams/", views_teams.team_list, name="teams"),
    path("teams/<slug:slug>/", views_teams.team_detail, name="team"),
    path("teams/<slug:slug>/invite/", views_teams.invite, name="team_invite"),
    path("teams/<slug:slug>/invites/<uuid:key>/revoke/", views_teams.revoke_invite, name="team_invite_revoke"),
    path("teams/<slug:slug>/members/<str:username>/role/", views_teams.set_role, name="team_member_role"),
    path("teams/<slug:slug>/members/<str:username>/remove/", views_teams.remove_member, name="team_member_remove"),
    path("teams/<slug:slug>/leave/", views_teams.leave, name="team_leave"),
    path("invites/<str:secret>/", views_teams.accept_invite, name="invite"),
    path("studies/<slug:code>/prolific/", views_sharing.prolific, name="prolific"),
    path("studies/<slug:code>/jobs/", views_jobs.study_jobs, name="study_jobs"),
    path("studies/<slug:code>/jobs/export/", views_jobs.start_export, name="start_export"),
    path("studies/<slug:code>/jobs/record/", views_jobs.start_recording, name="start_recording"),
    path("jobs/<uuid:key>/", views_jobs.job_page, name="job"),
    path("jobs/<uuid:key>/status.json", views_jobs.job_status_json, name="job_status"),
    path("jobs/<uuid:key>/download", views_jobs.job_download, name="job_download"),
    path("jobs/<uuid:key>/cancel/", views_jobs.cancel, name="job_cancel"),
    # Researchers: the study builder, preview, pilot and lifecycle (web/builder/, docs/builder.md)
    path("studies/<slug:code>/build/", builder.overview, name="builder"),
    path("studies/<slug:code>/build/study.yaml", builder.download_yaml, name="builder_yaml"),
    # The adaptive design's own form; reversing builder_section for "adaptive" gives this same URL.
    path("studies/<slug:code>/build/adaptive/", builder_adaptive.adaptive_section, name="builder_adaptive"),
    path("studies/<slug:code>/build/<slug:name>/", builder.section, name="builder_section"),
    path("studies/<slug:code>/build/<slug:name>/new/", builder.item, name="builder_item_new"),
    path("studies/<slug:code>/build/<slug:name>/<int:index>/", builder.item, name="builder_item"),
    path("studies/<slug:code>/build/<slug:name>/<int:index>/<slug:change>/", builder.item_change,
         name="builder_item_change"),
    path("studies/<slug:code>/preview/", builder_run.preview, name="preview"),
    path("studies/<slug:code>/pilot/", builder_run.pilot, name="pilot"),
    path("studies/<slug:code>/pilot/delete/", builder_run.delete_pilot_data, name="delete_pilot_data"),
    path("studies/<slug:code>/status/<slug:action>/", builder_run.change_status, name="change_status"),
    path("s/<slug:code>/pilot/<str:key>/", builder_run.pilot_entry, name="pilot_entry"),
    path("p/<str:token>/withdraw/", views_participant.withdraw, name="withdraw"),
]

# Before "studies/<code>/", which would otherwise take "new" for a study's code.
urlpatterns[:0] = [
    path("studies/new/", builder.create, name="study_create"),
    path("studies/new/", builder.create, name="create"),  # the same page under a shorter name
]
