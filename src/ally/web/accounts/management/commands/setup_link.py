"""`ally manage setup_link`: the link to a fresh install's set-up page, with its one-time key."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ally.web.accounts.joining import setup_url
from ally.web.actions.members import practice_needs_setting_up


class Command(BaseCommand):
    help = "Print the link to the set-up page of an Ally without a practice yet."

    def handle(self, *args: Any, **options: Any) -> None:
        if not practice_needs_setting_up():
            raise CommandError("This Ally has a practice already: sign in at its address.")
        self.stdout.write(setup_url(settings.ALLY_BASE_URL))
