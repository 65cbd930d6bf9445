"""URLs of accounts."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "members"
urlpatterns: list[URLPattern] = []
