"""The practice model's page and its fit, under /o/<org>/model/."""

from __future__ import annotations

from django.urls import path

from ally.web.monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("", views.model_page, name="model"),
    path("fit", views.fit_now, name="fit"),
]
