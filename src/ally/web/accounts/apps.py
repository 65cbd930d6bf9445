from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ally.web.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from axes.signals import user_locked_out  # type: ignore[import-untyped]
        from django.contrib.auth.signals import user_login_failed

        from ally.web.accounts import lockout

        user_login_failed.connect(lockout.audit_failure, dispatch_uid="ally-login-failed")
        user_locked_out.connect(lockout.audit_lock, dispatch_uid="ally-account-locked")
