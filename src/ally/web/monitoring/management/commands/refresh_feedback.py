"""`ally manage refresh_feedback [SLUG ...]`: every episode's results under the current model.

Answers bring their own episode up to date as they are stored; this is for after a change of
Ally's rules, or to redo an episode whose refresh failed (the log names it).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ally.web.monitoring.management.commands.fit_practice import organisations_named
from ally.web.monitoring.refresh import refresh_organisation


class Command(BaseCommand):
    help = "Apply each organisation's practice model to all its episodes again (all: no slugs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", help="Organisation slugs; none for all.")

    def handle(self, *args: Any, **options: Any) -> None:
        for organisation in organisations_named(options["slugs"]):
            done = refresh_organisation(organisation)
            self.stdout.write(
                f"{organisation.slug}: {done.episodes} episodes, {done.administrations} "
                f"administrations, {len(done.alerts)} new alerts"
            )
