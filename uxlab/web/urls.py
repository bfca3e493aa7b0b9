from django.urls import path

from uxlab.web import api, views_account, views_participant, views_results, views_studies

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
    path("p/<str:token>/done/", views_participant.done, name="done"),
    path("p/<str:token>/unconfirmed/", views_participant.unconfirmed, name="unconfirmed"),
    path("p/<str:token>/withdraw/", views_participant.withdraw, name="withdraw"),
]
