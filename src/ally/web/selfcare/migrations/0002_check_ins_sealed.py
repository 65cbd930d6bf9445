"""Seal every self-care check-in's answers and note under the server's newest master key, and
empty the plain columns, removed by the next migration."""

import json
from typing import Any

from django.db import migrations, models

from ally.web.privacy.keys import master_keys
from ally.web.privacy.sealed import seal, unseal
from ally.web.selfcare.models import where_sealed


def seal_the_check_ins(apps: Any, schema_editor: Any) -> None:
    check_in_model = apps.get_model("selfcare", "CheckIn")
    if not check_in_model.objects.exists():
        return
    master = master_keys().newest
    for check_in in check_in_model.objects.order_by("pk").iterator(chunk_size=500):
        plain = json.dumps(
            {"answers": check_in.answers, "note": check_in.note}, separators=(",", ":")
        )
        where = where_sealed(check_in.member_id, check_in.answered_at, master.version)
        check_in.sealed = seal(plain.encode(), master.material, where)
        check_in.master_version = master.version
        check_in.answers, check_in.note = None, ""
        check_in.save(update_fields=["sealed", "master_version", "answers", "note"])


def open_the_check_ins(apps: Any, schema_editor: Any) -> None:
    check_in_model = apps.get_model("selfcare", "CheckIn")
    for check_in in check_in_model.objects.order_by("pk").iterator(chunk_size=500):
        master = master_keys().get(check_in.master_version)
        where = where_sealed(check_in.member_id, check_in.answered_at, master.version)
        opened = json.loads(unseal(bytes(check_in.sealed), master.material, where))
        check_in.answers, check_in.note = opened["answers"], opened["note"]
        check_in.save(update_fields=["answers", "note"])


class Migration(migrations.Migration):
    dependencies = [
        ("selfcare", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="checkin",
            name="sealed",
            field=models.BinaryField(
                default=b"", editable=False, help_text="The answers and the note, sealed."
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="checkin",
            name="master_version",
            field=models.PositiveIntegerField(
                default=0, help_text="The master key the answers and note are sealed under."
            ),
            preserve_default=False,
        ),
        # Empty while sealed, and again when going back, until the answers are opened.
        migrations.AlterField(
            model_name="checkin", name="answers", field=models.JSONField(null=True)
        ),
        migrations.RunPython(seal_the_check_ins, open_the_check_ins),
    ]
