from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.dashboard import views

app_name = "dashboard"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
]
