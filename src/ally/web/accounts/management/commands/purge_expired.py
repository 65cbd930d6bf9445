"""`ally manage purge_expired`: delete expired sessions and old failed sign-ins, and on
PostgreSQL rewrite the table of clients' data keys so no erased client's key lingers in its file.

Django keeps a session's row until someone deletes it; a client's visit holds the answers saved
for later (sealed, but still theirs). Run it hourly from cron or a systemd timer
(docs/deploy.md); it is safe to run at any time.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ally.web.accounts.sessions import purge_expired
from ally.web.privacy.erasure import rewrite_key_table


class Command(BaseCommand):
    help = "Delete expired sessions (with clients' saved answers) and old failed sign-ins."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = purge_expired()
        rewrite_key_table()
        self.stdout.write(
            f"Deleted {deleted['sessions']} expired sessions and "
            f"{deleted['failed_sign_ins']} failed sign-in records older than the lockout."
        )
