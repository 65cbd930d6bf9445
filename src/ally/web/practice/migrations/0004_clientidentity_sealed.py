"""Seal every client's name, email and phone under a data key of their own, and blank the plain
columns (removed by the next migration)."""

from typing import Any

from django.db import migrations, models

from ally.web.privacy.keys import fresh_key_fields, unwrap
from ally.web.privacy.sealed import open_fields, seal_fields

TABLE = "practice_clientidentity"
DETAILS = ("email", "name", "phone")


def _key(client_key_model: Any, client_id: int) -> Any:
    row = client_key_model.objects.filter(client_id=client_id).first()
    if row is not None:
        return unwrap(row)
    key, fields = fresh_key_fields(client_id, 1)
    client_key_model.objects.create(client_id=client_id, **fields)
    return key


def seal_details(apps: Any, schema_editor: Any) -> None:
    identity_model = apps.get_model("practice", "ClientIdentity")
    client_key_model = apps.get_model("privacy", "ClientKey")
    for identity in identity_model.objects.order_by("pk").iterator(chunk_size=500):
        details = {name: getattr(identity, name) for name in DETAILS}
        key = _key(client_key_model, identity.client_id)
        identity.sealed = seal_fields(details, key, table=TABLE, row=identity.client_id)
        identity.name = identity.email = identity.phone = ""
        identity.save(update_fields=["sealed", *DETAILS])


def open_details(apps: Any, schema_editor: Any) -> None:
    identity_model = apps.get_model("practice", "ClientIdentity")
    client_key_model = apps.get_model("privacy", "ClientKey")
    for identity in identity_model.objects.order_by("pk").iterator(chunk_size=500):
        key = unwrap(client_key_model.objects.get(client_id=identity.client_id))
        details = open_fields(
            identity.sealed, key, table=TABLE, columns=DETAILS, row=identity.client_id
        )
        for name, value in details.items():
            setattr(identity, name, value)
        identity.save(update_fields=list(DETAILS))


class Migration(migrations.Migration):
    dependencies = [
        ("practice", "0003_organisation_erasure_policy"),
        ("privacy", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="clientidentity",
            name="sealed",
            field=models.BinaryField(default=b"", editable=False),
            preserve_default=False,
        ),
        # A default, so that going back can add the column again to the rows that exist.
        migrations.AlterField(
            model_name="clientidentity",
            name="name",
            field=models.CharField(max_length=200, default=""),
        ),
        migrations.RunPython(seal_details, open_details),
    ]
