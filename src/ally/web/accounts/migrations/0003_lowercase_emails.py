"""Every stored email address in lower case, as sign-in now compares them (`normal_email`).

Refused, changing nothing, while two accounts differ only in capitals: both would then sign in
with one address, and which one a sign-in opened would be chance. The message names them so that
an operator can change one and run `ally manage migrate` again.
"""

from collections import defaultdict
from typing import Any

from django.db import migrations


class EmailCollisionError(RuntimeError):
    """Two or more accounts whose addresses differ only in capitals."""


def lowercase_emails(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("accounts", "User")
    by_address: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for pk, email in User.objects.order_by("pk").values_list("pk", "email"):
        by_address[email.strip().lower()].append((pk, email))
    clashes = [accounts for accounts in by_address.values() if len(accounts) > 1]
    if clashes:
        named = "; ".join(
            " and ".join(f"account {pk} ({email})" for pk, email in accounts)
            for accounts in clashes
        )
        raise EmailCollisionError(
            "Ally now signs members in by email address whatever its capitals, but these accounts "
            f"differ only in capitals: {named}. Nothing was changed. Give all but one of each "
            "another address (in `ally manage shell`: from ally.web.accounts.models import User; "
            "User.objects.filter(pk=N).update(email='other@address')), then run "
            "`ally manage migrate` again."
        )
    for address, [(pk, email)] in by_address.items():
        if email != address:
            User.objects.filter(pk=pk).update(email=address)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_session_generation"),
    ]

    operations = [
        migrations.RunPython(lowercase_emails, migrations.RunPython.noop),
    ]
