"""Rewrite the tables whose plain answers and notes were removed (item answers, group check-in
notes, self-care check-ins) so that the removed columns leave nothing on disk.

PostgreSQL keeps a dropped column's values and old row versions in the table's pages, and SQLite
keeps freed pages in its file, until the table is rewritten. VACUUM cannot run in a transaction,
hence a migration of its own that is not atomic.
"""

from typing import Any

from django.db import migrations

TABLES = ("collect_response", "collect_amendment", "groups_checkinnote", "selfcare_checkin")


def scrub(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            for table in TABLES:
                cursor.execute(f"VACUUM FULL {table}")
        elif vendor == "sqlite":
            cursor.execute("VACUUM")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("collect", "0005_answers_plain_column_removed"),
        ("groups", "0004_check_in_note_plain_column_removed"),
        ("selfcare", "0003_check_in_plain_columns_removed"),
    ]

    operations = [
        migrations.RunPython(scrub, migrations.RunPython.noop),
    ]
