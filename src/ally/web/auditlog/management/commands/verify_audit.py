"""`ally manage verify_audit`: check that no audit entry was changed, inserted or removed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ally.web.auditlog.chain import verify


class Command(BaseCommand):
    help = "Recompute the audit log's hash chain and report the first entry that breaks it."

    def handle(self, *args: Any, **options: Any) -> None:
        verdict = verify()
        if not verdict.holds:
            raise CommandError(
                f"The audit chain breaks at entry {verdict.broken_at}: that entry or the one "
                "before it was changed, inserted or removed. Restore the log from a backup and "
                "compare."
            )
        self.stdout.write(f"The audit chain holds: {verdict.entries} entries.")
