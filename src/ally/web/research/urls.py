"""The research export page (/o/<org>/research/), for members who may export research data."""

from __future__ import annotations

from django.urls import path

from ally.web.research import views

app_name = "research"
urlpatterns = [path("", views.export, name="export")]
