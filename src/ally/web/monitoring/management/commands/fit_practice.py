"""`ally manage fit_practice [SLUG ...]`: fit each practice's model on its answers, then apply it.

Run it on a schedule (nightly or weekly; docs/deploy.md): the model learns from the practice's
growing history, and every episode's results are brought up to date with it. An administrator
can also fit it from the practice model page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from ally.feedback.practice import PracticeModel
from ally.web.actions.monitoring import do_fit_practice_model
from ally.web.practice.models import Organisation


def organisations_named(slugs: Sequence[str]) -> QuerySet[Organisation]:
    """The organisations with these slugs (all without any); an unknown slug stops the command."""
    organisations = Organisation.objects.order_by("slug")
    if slugs:
        organisations = organisations.filter(slug__in=slugs)
        missing = set(slugs) - {o.slug for o in organisations}
        if missing:
            raise CommandError(f"No organisation with the slug {', '.join(sorted(missing))}.")
    return organisations


class Command(BaseCommand):
    help = "Fit each organisation's practice model on its answers and apply it (all: no slugs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", help="Organisation slugs; none for all.")

    def handle(self, *args: Any, **options: Any) -> None:
        for organisation in organisations_named(options["slugs"]):
            fit = do_fit_practice_model(organisation)
            model = PracticeModel.from_json(fit.model_json)
            self.stdout.write(
                f"{organisation.slug}: fitted on {fit.episodes} episodes and "
                f"{fit.administrations} administrations"
            )
            for note in model.training.notes:
                self.stdout.write(f"  note: {note}")
