"""`ally manage erase_client <org> <code>`: erase a client and everything about them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ally.web.actions.privacy import do_erase_client
from ally.web.practice.models import Client


class Command(BaseCommand):
    help = (
        "Erase a client (GDPR Art. 17): their identity, data key, episodes, sessions, forms, "
        "answers, alerts and feedback. Leaves an erasure record (keys and time only) and the "
        "audit entries. This cannot be undone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organisation", help="The organisation's slug, as in its URLs.")
        parser.add_argument("code", help="The client's code.")
        parser.add_argument(
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask to type the code again to confirm.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organisation, code = options["organisation"], options["code"]
        client = Client.objects.filter(organisation__slug=organisation, code=code).first()
        if client is None:
            raise CommandError(
                f"No client with code {code!r} in organisation {organisation!r}; check both "
                "(the organisation is the slug in its URLs, /o/<slug>/)."
            )
        if options["interactive"]:
            typed = input(f"Erase client {code} of {organisation} for good? Type the code again: ")
            if typed.strip() != code:
                raise CommandError("The code typed does not match; nothing was erased.")
        record = do_erase_client(client, actor=None)
        self.stdout.write(
            f"Client {code} of {organisation} erased; erasure record {record.pk} kept (keys only)."
        )
