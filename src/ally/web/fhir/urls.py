"""/fhir/: the FHIR R4 endpoints (see docs/interop.md)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ally.web.fhir import views

urlpatterns: list[URLPattern] = [
    path("Questionnaire", views.questionnaires, name="fhir_questionnaires"),
    path("Questionnaire/<str:id>", views.questionnaire_read, name="fhir_questionnaire"),
    path(
        "QuestionnaireResponse", views.questionnaire_responses, name="fhir_questionnaire_responses"
    ),
    path(
        "QuestionnaireResponse/<str:id>",
        views.questionnaire_response_read,
        name="fhir_questionnaire_response",
    ),
    path("Observation", views.observation_search, name="fhir_observations"),
    path("Observation/<str:id>", views.observation_read, name="fhir_observation"),
    path("EpisodeOfCare/<int:id>", views.episode_read, name="fhir_episode"),
    path("EpisodeOfCare/<int:id>/$everything", views.episode_everything, name="fhir_everything"),
]
