"""The client's side, under /a/: the link, then the questionnaires of the visit."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.respond import views

app_name = "respond"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.answer, name="answer"),
    path("saved/", views.saved, name="saved"),
    path("safety/", views.safety, name="safety"),
    path("done/", views.done, name="done"),
    # Last: a signed token never equals the words above (it holds two colons).
    path("<str:signed>/", views.open_link, name="open"),
]
