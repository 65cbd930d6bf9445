"""The coach's sponsor page, under /o/<org>/episodes/<pk>/sponsor/ (see ally.web.urls)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.sponsors import views

app_name = "sponsors"
urlpatterns: list[URLPattern | URLResolver] = [path("", views.episode_sponsor, name="episode")]
