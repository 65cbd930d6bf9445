"""/fhir/: the FHIR R4 endpoints (see docs/interop.md)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ally.web.fhir import views

app_name = "fhir"

urlpatterns: list[URLPattern] = [
    path("metadata", views.metadata, name="metadata"),
    path("Questionnaire", views.questionnaires, name="questionnaires"),
    path("Questionnaire/<str:id>", views.questionnaire_read, name="questionnaire"),
    path("QuestionnaireResponse", views.questionnaire_responses, name="questionnaire_responses"),
    path(
        "QuestionnaireResponse/<str:id>",
        views.questionnaire_response_read,
        name="questionnaire_response",
    ),
    path("Observation", views.observation_search, name="observations"),
    path("Observation/<str:id>", views.observation_read, name="observation"),
    path("EpisodeOfCare/<int:id>", views.episode_read, name="episode"),
    path("EpisodeOfCare/<int:id>/$everything", views.episode_everything, name="everything"),
]
