"""`ally manage refresh_feedback [SLUG ...]`: recompute every episode's feedback, practice-wide.

After a change of models (ALLY_ETR_MODELS, ALLY_DROPOUT_MODEL) or nightly, so that estimates
made from the whole practice (such as Cronbach's alpha) are up to date.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ally.web.feedback.refresh import refresh_organisation
from ally.web.practice.models import Organisation


class Command(BaseCommand):
    help = "Recompute the engine's feedback for every episode of the given organisations (all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", help="Organisation slugs; none for all.")

    def handle(self, *args: Any, **options: Any) -> None:
        organisations = Organisation.objects.order_by("slug")
        if options["slugs"]:
            organisations = organisations.filter(slug__in=options["slugs"])
            missing = set(options["slugs"]) - {o.slug for o in organisations}
            if missing:
                raise CommandError(f"No organisation with the slug {', '.join(sorted(missing))}.")
        for organisation in organisations:
            done = refresh_organisation(organisation)
            self.stdout.write(
                f"{organisation.slug}: {done.episodes} episodes, {done.administrations} "
                f"administrations analysed, {done.left_out} left out, {len(done.alerts)} new alerts"
            )
            for note in done.notes:
                self.stdout.write(f"  note: {note}")
