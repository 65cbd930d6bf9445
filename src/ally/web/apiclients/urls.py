"""URLs of the API clients page (/o/<org>/api-clients/), for administrators."""

from __future__ import annotations

from django.urls import path

from ally.web.apiclients import views

app_name = "apiclients"
urlpatterns = [
    path("", views.clients, name="list"),
    path("<int:pk>/revoke/", views.revoke, name="revoke"),
]
