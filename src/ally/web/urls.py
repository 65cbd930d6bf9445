"""URLs. The screens come next; the Django admin stays out, since it bypasses the scoping rules."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
