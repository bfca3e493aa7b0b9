from django.urls import path

from uxlab.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    # Researchers
    path("studies/", views.study_list, name="study_list"),
    path("studies/<slug:code>/", views.study_detail, name="study_detail"),
    path("studies/<slug:code>/ratings.csv", views.ratings_csv, name="ratings_csv"),
    # Participants
    path("s/<slug:code>/", views.study_entry, name="study_entry"),
    path("p/<str:token>/", views.participant_home, name="participant_home"),
    path("p/<str:token>/consent/", views.consent, name="consent"),
    path("p/<str:token>/trial/", views.trial, name="trial"),
    path("p/<str:token>/done/", views.done, name="done"),
]
