"""`ally manage export_client <org> <code> <file>`: a client's own copy of their data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation

from ally.web.practice.models import Client
from ally.web.privacy.export import export_client


class Command(BaseCommand):
    help = (
        "Write a ZIP with the client's data (GDPR Art. 15 and 20): a page they can read and the "
        "same data as JSON. The file holds their name and answers: hand it over securely."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organisation", help="The organisation's slug, as in its URLs.")
        parser.add_argument("code", help="The client's code.")
        parser.add_argument("file", type=Path, help="Where to write the ZIP (a new file).")
        parser.add_argument("--language", default="en", help="Language of the page (en, de).")

    def handle(self, *args: Any, **options: Any) -> None:
        organisation, code, path = options["organisation"], options["code"], options["file"]
        client = Client.objects.filter(organisation__slug=organisation, code=code).first()
        if client is None:
            raise CommandError(
                f"No client with code {code!r} in organisation {organisation!r}; check both "
                "(the organisation is the slug in its URLs, /o/<slug>/)."
            )
        try:
            # Readable by this user only, and never over an existing file.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists already; choose a new file name.") from None
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror}.") from None
        try:
            with os.fdopen(fd, "wb") as out, translation.override(options["language"]):
                out.write(export_client(client, membership=None))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self.stdout.write(f"Wrote the export of client {code} to {path}.")
