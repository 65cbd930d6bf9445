"""`ally manage send_due_links`: send due links and reminders, expire old forms."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ally.web.collect.due import send_due_links


class Command(BaseCommand):
    help = "Send the client links that are due, remind once, and expire forms past their time."

    def handle(self, *args: Any, **options: Any) -> None:
        run = send_due_links()
        self.stdout.write(
            f"{run.expired} expired, {run.sent} sent, {run.reminded} reminded, "
            f"{run.no_email} without an email address, {run.failed} failed (tried again next run)"
        )
