"""The client's goals pages, under /a/goals/ (before the respond app's token catch-all)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.goals import client

app_name = "goals_client"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", client.goals, name="goals"),
    path("exercise/", client.exercise, name="exercise"),
]
