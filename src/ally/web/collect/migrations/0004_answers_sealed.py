"""Seal every response's and amendment's item answers, and every amendment's reason, under the
client's data key (a client with none gets one), and empty the plain columns, removed by the next
migration. The scores stay plain (docs/security.md, section 2.1)."""

from typing import Any

from django.db import migrations, models

from ally.web.collect.models.responses import (
    REASON_COLUMNS,
    Amendment,
    Response,
    opened_answers,
    seal_answers,
)
from ally.web.privacy.keys import fresh_key_fields, unwrap
from ally.web.privacy.sealed import context, seal, unseal

HELP = "The item answers, sealed under the client's data key."


def _key(client_key_model: Any, keys: dict[int, Any], client_id: int) -> Any:
    if client_id not in keys:
        row = client_key_model.objects.filter(client_id=client_id).first()
        if row is None:
            key, fields = fresh_key_fields(client_id, 1)
            client_key_model.objects.create(client_id=client_id, **fields)
        else:
            key = unwrap(row)
        keys[client_id] = key
    return keys[client_id]


BATCH = 500


def _batches(model: Any, fields: tuple[str, ...]) -> Any:
    """The rows' values in batches by key, each read whole before it is written."""
    last = 0
    while True:
        batch = list(
            model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", *fields)[:BATCH]
        )
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def _responses(apps: Any, *columns: str) -> Any:
    """(model, key, client, place, *values of `columns`) of every response."""
    model = apps.get_model("collect", "Response")
    fields = ("administration__episode__client_id", "administration_id", *columns)
    for batch in _batches(model, fields):
        for pk, client_id, administration_id, *values in batch:
            yield model, pk, client_id, Response.place_of(administration_id), *values


def _amendments(apps: Any, *columns: str) -> Any:
    """(model, key, client, place, *values of `columns`) of every amendment."""
    model = apps.get_model("collect", "Amendment")
    fields = ("response__administration__episode__client_id", "response_id", "amended_at")
    for batch in _batches(model, (*fields, *columns)):
        for pk, client_id, response_id, amended_at, *values in batch:
            yield model, pk, client_id, Amendment.place_of(response_id, amended_at), *values


def _reason_context(model: Any, place: str, key: Any) -> bytes:
    return context(model._meta.db_table, REASON_COLUMNS, place, key.generation)


# Each row is written once: on PostgreSQL a row changed twice in one transaction leaves
# foreign-key checks pending, and the schema changes after the data then cannot run.


def seal_the_answers(apps: Any, schema_editor: Any) -> None:
    client_key_model = apps.get_model("privacy", "ClientKey")
    keys: dict[int, Any] = {}
    for model, pk, client_id, place, answers in _responses(apps, "answers"):
        key = _key(client_key_model, keys, client_id)
        sealed = seal_answers(answers or {}, key, model._meta.db_table, place)
        # Historical models have Django's own manager: no Immutable refusal here.
        model.objects.filter(pk=pk).update(sealed=sealed, answers=None)
    for model, pk, client_id, place, answers, reason in _amendments(apps, "answers", "reason"):
        key = _key(client_key_model, keys, client_id)
        model.objects.filter(pk=pk).update(
            sealed=seal_answers(answers or {}, key, model._meta.db_table, place),
            sealed_reason=seal(reason.encode(), key.material, _reason_context(model, place, key)),
            answers=None,
            reason="",
        )


def open_the_answers(apps: Any, schema_editor: Any) -> None:
    client_key_model = apps.get_model("privacy", "ClientKey")
    keys: dict[int, Any] = {}
    for model, pk, client_id, place, sealed in _responses(apps, "sealed"):
        key = _key(client_key_model, keys, client_id)
        answers = opened_answers(sealed, key, model._meta.db_table, place)
        model.objects.filter(pk=pk).update(answers=answers)
    for model, pk, client_id, place, sealed, reason in _amendments(apps, "sealed", "sealed_reason"):
        key = _key(client_key_model, keys, client_id)
        where = _reason_context(model, place, key)
        model.objects.filter(pk=pk).update(
            answers=opened_answers(sealed, key, model._meta.db_table, place),
            reason=unseal(bytes(reason), key.material, where).decode(),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("collect", "0003_seal_alert_notes"),
        ("privacy", "0001_initial"),
    ]

    operations = [
        *(
            operation
            for model in ("response", "amendment")
            for operation in (
                migrations.AddField(
                    model_name=model,
                    name="sealed",
                    field=models.BinaryField(default=b"", editable=False, help_text=HELP),
                    preserve_default=False,
                ),
                # Empty while sealed, and again when going back, until the answers are opened.
                migrations.AlterField(
                    model_name=model,
                    name="answers",
                    field=models.JSONField(
                        null=True, help_text='By item number: {"1": 2, "2": null, ...}.'
                    ),
                ),
            )
        ),
        migrations.AddField(
            model_name="amendment",
            name="sealed_reason",
            field=models.BinaryField(
                default=b"",
                editable=False,
                help_text="Why the answers were corrected, sealed as the answers are.",
            ),
            preserve_default=False,
        ),
        # The database cannot see into a sealed reason; `do_amend_response` refuses an empty one.
        migrations.RemoveConstraint(model_name="amendment", name="amendment_has_reason"),
        # A default, so that going back can add the column again to the rows that exist.
        migrations.AlterField(
            model_name="amendment", name="reason", field=models.TextField(default="")
        ),
        migrations.RunPython(seal_the_answers, open_the_answers),
    ]
