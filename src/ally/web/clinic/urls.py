"""The staff side of one organisation, under /o/<org>/ (see ally.web.urls).

Objects are named by their numeric keys only: no client's name or code ever enters a URL.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.clinic import (
    administrations,
    alerts,
    caseload,
    clients,
    episodes,
    plans,
    reports,
    sessions,
)

app_name = "clinic"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", caseload.caseload, name="home"),
    path("caseload/", caseload.caseload, name="caseload"),
    path("clients/new/", clients.client_new, name="client_new"),
    path("episodes/new/", episodes.episode_new, name="episode_new"),
    path("episodes/<int:pk>/", episodes.episode, name="episode"),
    path("episodes/<int:pk>/end/", episodes.episode_end, name="episode_end"),
    path("episodes/<int:pk>/report/", reports.report, name="report"),
    path("episodes/<int:pk>/report.pdf", reports.report_pdf, name="report_pdf"),
    path(
        "episodes/<int:pk>/support-check/",
        episodes.support_check_send,
        name="support_check_send",
    ),
    path(
        "episodes/<int:pk>/suggestions/",
        episodes.suggestions_used,
        name="suggestions_used",
    ),
    path("episodes/<int:pk>/care-team/", episodes.care_team_add, name="care_team_add"),
    path("care-team/<int:pk>/", episodes.care_team_change, name="care_team_change"),
    path("care-team/<int:pk>/remove/", episodes.care_team_remove, name="care_team_remove"),
    path("episodes/<int:pk>/plan/", plans.plan, name="plan"),
    path("plan-entries/<int:pk>/remove/", plans.plan_entry_remove, name="plan_entry_remove"),
    path("episodes/<int:pk>/sessions/new/", sessions.session_new, name="session_new"),
    path("sessions/<int:pk>/status/", sessions.session_status, name="session_status"),
    path("forms/<int:pk>/", administrations.link, name="form"),
    path("forms/<int:pk>/send/", administrations.send, name="form_send"),
    path("forms/<int:pk>/given/", administrations.given, name="form_given"),
    path("forms/<int:pk>/qr/", administrations.qr, name="form_qr"),
    path("forms/<int:pk>/rate/", administrations.rate, name="form_rate"),
    path("forms/<int:pk>/paper/", administrations.paper, name="form_paper"),
    path("forms/<int:pk>/answers/", administrations.answers, name="form_answers"),
    path("forms/<int:pk>/correct/", administrations.correct, name="form_correct"),
    path("alerts/", alerts.alert_list, name="alerts"),
    path("alerts/<int:pk>/seen/", alerts.alert_seen, name="alert_seen"),
    path("alerts/<int:pk>/act/", alerts.alert_act, name="alert_act"),
]
