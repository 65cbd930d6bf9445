"""Rewrite the answer tables so that the removed plain column leaves nothing on disk.

PostgreSQL keeps a dropped column's values and old row versions in the table's pages, and SQLite
keeps freed pages in its file, until the table is rewritten. VACUUM cannot run in a transaction,
hence a migration of its own that is not atomic.
"""

from typing import Any

from django.db import migrations


def scrub(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("VACUUM FULL collect_response")
            cursor.execute("VACUUM FULL collect_amendment")
        elif vendor == "sqlite":
            cursor.execute("VACUUM")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("collect", "0005_answers_plain_column_removed"),
    ]

    operations = [
        migrations.RunPython(scrub, migrations.RunPython.noop),
    ]
