"""The client's IPR pages, under /a/recall/ (before the respond app's token catch-all)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.ipr import client

app_name = "ipr_client"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", client.recording_page, name="recording"),
    path("media/", client.media_file, name="media"),
    path("transcript.vtt", client.transcript, name="transcript"),
    path("<str:signed>/", client.open_link, name="open"),
]
