"""The staff's ending page, under /o/<org>/episodes/<pk>/ending/ (see ally.web.urls)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.endings import views

app_name = "endings"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.ending, name="ending"),
]
