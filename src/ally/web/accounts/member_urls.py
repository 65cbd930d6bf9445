"""URLs of the members page (/o/<org>/members/), for administrators."""

from __future__ import annotations

from django.urls import path

from ally.web.accounts import member_views

app_name = "members"
urlpatterns = [
    path("", member_views.members, name="list"),
    path("invite/", member_views.invite, name="invite"),
    path("practice/", member_views.practice_kind, name="practice"),
    path("invitations/<int:pk>/withdraw/", member_views.withdraw, name="withdraw"),
    path("<int:pk>/role/", member_views.change_role, name="role"),
    path("<int:pk>/remove/", member_views.remove, name="remove"),
    path("<int:pk>/unlock/", member_views.unlock, name="unlock"),
    path("<int:pk>/reset-two-factor/", member_views.reset_two_factor, name="reset_two_factor"),
    path("<int:pk>/sign-out/", member_views.sign_out, name="sign_out"),
]
