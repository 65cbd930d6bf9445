"""A member's own self-care page, under /o/<org>/self-care/ (see ally.web.urls)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.selfcare import views

app_name = "selfcare"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.mine, name="mine"),
    path("schedule/", views.schedule, name="schedule"),
]
