"""The client's end-of-therapy review, under /a/review/ (before the respond app's catch-all)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.endings import client

app_name = "endings_client"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", client.review, name="review"),
]
