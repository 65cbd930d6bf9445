"""Seal what members wrote with their group check-in under the client's data key (as goal
wordings are: `ally.web.goals.models.Sealed`), and empty the plain column, removed by the next
migration."""

import json
from typing import Any

from django.db import migrations, models

from ally.web.privacy.keys import fresh_key_fields, unwrap
from ally.web.privacy.sealed import context, seal, unseal

TABLE = "groups_checkinnote"


def _key(client_key_model: Any, client_id: int) -> Any:
    row = client_key_model.objects.filter(client_id=client_id).first()
    if row is not None:
        return unwrap(row)
    key, fields = fresh_key_fields(client_id, 1)
    client_key_model.objects.create(client_id=client_id, **fields)
    return key


def _notes(apps: Any) -> Any:
    note_model = apps.get_model("groups", "CheckInNote")
    return note_model.objects.select_related("administration__episode").order_by("pk")


def seal_the_notes(apps: Any, schema_editor: Any) -> None:
    client_key_model = apps.get_model("privacy", "ClientKey")
    for note in list(_notes(apps)):
        key = _key(client_key_model, note.administration.episode.client_id)
        plain = json.dumps({"text": note.text}, separators=(",", ":")).encode()
        where = context(TABLE, ("words",), str(note.administration_id), key.generation)
        note.sealed = seal(plain, key.material, where)
        note.text = ""
        note.save(update_fields=["sealed", "text"])


def open_the_notes(apps: Any, schema_editor: Any) -> None:
    client_key_model = apps.get_model("privacy", "ClientKey")
    for note in list(_notes(apps)):
        key = _key(client_key_model, note.administration.episode.client_id)
        where = context(TABLE, ("words",), str(note.administration_id), key.generation)
        note.text = json.loads(unseal(bytes(note.sealed), key.material, where))["text"]
        note.save(update_fields=["text"])


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0002_checkinnote"),
        ("privacy", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="checkinnote",
            name="sealed",
            field=models.BinaryField(default=b"", editable=False),
            preserve_default=False,
        ),
        migrations.RemoveConstraint(model_name="checkinnote", name="check_in_note_text"),
        # A default, so that going back can add the column again to the rows that exist.
        migrations.AlterField(
            model_name="checkinnote", name="text", field=models.TextField(default="")
        ),
        migrations.RunPython(seal_the_notes, open_the_notes),
    ]
