"""URLs of auditlog."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "auditlog"
urlpatterns: list[URLPattern] = []
