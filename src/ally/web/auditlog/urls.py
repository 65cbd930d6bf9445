"""The audit log's pages: the log with filters, and its CSV export."""

from __future__ import annotations

from django.urls import path

from ally.web.auditlog import views

app_name = "auditlog"
urlpatterns = [
    path("", views.log, name="log"),
    path("export.csv", views.export, name="export"),
]
