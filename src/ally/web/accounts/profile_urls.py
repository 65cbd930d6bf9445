"""The public page's editing, under /o/<org>/profile/ (see ally.web.urls)."""

from __future__ import annotations

from django.urls import path

from ally.web.accounts import profiles

app_name = "profiles"
urlpatterns = [
    path("", profiles.practice_page, name="practice"),
    path("me/", profiles.own_profile, name="mine"),
]
