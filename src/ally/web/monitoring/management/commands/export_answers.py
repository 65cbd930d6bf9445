"""`ally manage export_answers SLUG --out FILE`: a practice's answers for `ally analyze`.

Numeric keys only (no names, codes or notes); the export is audited. With the practice model
(`--model-out`), `ally analyze FILE --model MODEL` gives the numbers the app shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ally.web.audit import record_event
from ally.web.monitoring.export import write_answers
from ally.web.monitoring.management.commands.fit_practice import organisations_named
from ally.web.monitoring.refresh import model_for
from ally.web.practice.models import Episode


class Command(BaseCommand):
    help = "Write one organisation's answers as a CSV file that `ally analyze` reads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The organisation's slug.")
        parser.add_argument("--out", required=True, type=Path, help="The CSV file to write.")
        parser.add_argument(
            "--model-out", type=Path, help="Also write the practice model in force (JSON)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        [organisation] = organisations_named([options["slug"]])
        episodes = list(Episode.objects.filter(organisation=organisation).order_by("pk"))
        written = write_answers(episodes, options["out"])
        record_event(
            "answers.exported",
            actor=None,
            organisation_id=organisation.pk,
            target_type="monitoring:export_answers",
            target_id=str(written),
        )
        self.stdout.write(f"{organisation.slug}: {written} administrations to {options['out']}")
        if options["model_out"]:
            model, _ = model_for(organisation.pk)
            options["model_out"].write_text(model.to_json(), encoding="utf-8")
            self.stdout.write(f"the practice model in force to {options['model_out']}")
