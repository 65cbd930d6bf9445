"""The client's consent to their sponsor, under /a/sponsor/ (before the token catch-all)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.sponsors import views

app_name = "sponsor_client"
urlpatterns: list[URLPattern | URLResolver] = [path("", views.consent, name="consent")]
