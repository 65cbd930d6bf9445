"""`ally manage unlock_account EMAIL`: unlock an account locked after repeated failures.

For whoever runs the server, when no administrator of the practice can sign in to use the
members page (the practice's only administrator locked themselves out). Audited like the page.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ally.web.accounts.models import User, normal_email
from ally.web.actions.accounts import do_unlock_account


class Command(BaseCommand):
    help = "Unlock an account locked after repeated wrong passwords or codes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the address the member signs in with")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=normal_email(options["email"])).first()
        if user is None:
            raise CommandError(
                f"No account signs in with {options['email']}; check the address (it is the "
                "one on the members page)."
            )
        do_unlock_account(user)
        self.stdout.write(f"{user.email} can sign in again.")
