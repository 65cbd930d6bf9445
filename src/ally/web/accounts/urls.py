"""Signing in (password, then a code) and out, and the member's own account page."""

from __future__ import annotations

from django.urls import path

from ally.web.accounts import joining, views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.sign_out, name="logout"),
    path("invitation/<str:token>/", joining.invitation, name="invitation"),
    path("two-factor/", views.code_step, name="two_factor"),
    path("two-factor/setup/", views.setup, name="two_factor_setup"),
    path("recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("security/", views.security, name="security"),
    path("security/confirm/", views.confirm, name="security_confirm"),
    path("security/email/", views.change_email, name="security_email"),
    path("security/password/", views.change_password, name="security_password"),
    path("security/recovery-codes/", views.renew_recovery_codes, name="security_recovery_codes"),
    path("security/authenticator/", views.replace_authenticator, name="security_authenticator"),
    path("security/sign-out-elsewhere/", views.sign_out_elsewhere, name="sign_out_elsewhere"),
    path("security/devices/<int:pk>/end/", views.end_device, name="end_device"),
]
