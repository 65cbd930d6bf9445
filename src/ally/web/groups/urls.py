"""The group pages, under /o/<org>/groups/ (see ally.web.urls)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ally.web.groups import views

app_name = "groups"
urlpatterns: list[URLPattern] = [
    path("", views.group_list, name="list"),
    path("new/", views.group_new, name="new"),
    path("<int:pk>/", views.group, name="group"),
    path("<int:pk>/schedule/", views.schedule_set, name="schedule"),
    path("<int:pk>/members/", views.member_add, name="member_add"),
    path("<int:pk>/plan/", views.plan_add, name="plan_add"),
    path("<int:pk>/sessions/new/", views.session_new, name="session_new"),
    path("members/<int:pk>/leave/", views.member_leave, name="member_leave"),
    path("sessions/<int:pk>/", views.session, name="session"),
]
