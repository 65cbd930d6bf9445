"""The staff's goals page, under /o/<org>/episodes/<pk>/goals/ (see ally.web.urls)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.goals import views

app_name = "goals"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.goals_page, name="episode"),
]
