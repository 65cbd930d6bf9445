"""Erasing a client (GDPR Art. 17): every row about them, their data key, and the register that
lets an erasure be applied again to an older copy of the database.

What is erased is found, not listed: every row that points at the client, and every row that
points at one of those, through any model's foreign keys (episodes, sessions, forms, answers,
amendments, alerts, feedback, plans, care teams, group places, the identity and the data key).
Answers and amendments are Immutable and refuse deletion through their model and their default
manager; erasure deletes through the base manager, the one deliberate way past that rule. The
client's visits kept in Django's session table (drafts of answers) go too.

The register lives in the database (`ErasureRecord`) and, one JSON line per erasure, in the data
folder's `erasures.jsonl`, so that it outlives the loss of the database. `ally restore` calls
`erasure_register()` before restoring and `reapply_erasures(...)` after.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import OperationalError, connection, models, transaction
from django.utils import timezone

from ally.web import audit
from ally.web.practice.models import Client, Membership, Organisation
from ally.web.privacy.models import ClientKey, ErasureRecord

log = logging.getLogger(__name__)

REGISTER_FILE = "erasures.jsonl"
# How long rewriting the table of data keys waits for a transaction that has read it.
KEY_TABLE_LOCK_WAIT_MS = 2000
RECORD_FIELDS = ("organisation", "client", "client_created_at", "erased_at", "erased_by")


class ErasureRegisterError(ValueError):
    """A register record that cannot be applied; the message names the record and the field."""


def _referencing(model: type[models.Model]) -> list[tuple[type[models.Model], str]]:
    """(model, field name) of every foreign key and one-to-one that points at `model`."""
    return [
        (relation.related_model, relation.field.name)
        for relation in model._meta.get_fields(include_hidden=True)
        if relation.is_relation
        and not relation.concrete
        and (relation.one_to_many or relation.one_to_one)
    ]


def rows_about(client: Client) -> list[tuple[type[models.Model], set[Any]]]:
    """Every row that depends on the client, by model, in an order that deletes each row before
    the rows it points at."""
    found: dict[type[models.Model], set[Any]] = {Client: {client.pk}}
    pending: list[type[models.Model]] = [Client]
    while pending:
        model = pending.pop()
        for dependant, field in _referencing(model):
            keys = dependant._base_manager.filter(**{f"{field}__in": found[model]})
            new = set(keys.values_list("pk", flat=True)) - found.get(dependant, set())
            if new:
                found.setdefault(dependant, set()).update(new)
                pending.append(dependant)

    order: list[type[models.Model]] = []

    def place(model: type[models.Model], path: tuple[type[models.Model], ...]) -> None:
        # Depth first: the models pointing at `model` are placed (and deleted) before it.
        if model in order or model in path:
            return
        for dependant, _field in _referencing(model):
            if dependant in found:
                place(dependant, (*path, model))
        order.append(model)

    place(Client, ())
    return [(model, found[model]) for model in order]


def _visits_granting(administration_ids: set[Any]) -> list[str]:
    """Keys of the stored sessions whose client visit granted one of these forms."""
    if "django.contrib.sessions" not in settings.INSTALLED_APPS or not administration_ids:
        return []
    from django.contrib.sessions.models import Session as StoredSession

    from ally.web.respond.visit import KEY

    wanted = {int(pk) for pk in administration_ids}
    keys = []
    for stored in StoredSession.objects.filter(expire_date__gt=timezone.now()).iterator():
        grants = (stored.get_decoded().get(KEY) or {}).get("grants") or []
        if wanted & {int(pk) for pk in grants}:
            keys.append(stored.session_key)
    return keys


def _empty_the_write_ahead_log() -> None:
    """Copy SQLite's write-ahead log into the database and empty it; best effort, as a reader
    may hold it (it is emptied at a later checkpoint then)."""
    if connection.in_atomic_block:
        return  # a checkpoint cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except OperationalError:
        log.warning("The SQLite write-ahead log could not be emptied after an erasure now.")


def rewrite_key_table() -> None:
    """Rewrite PostgreSQL's table of wrapped data keys, so the deleted key's row version leaves
    its file at once rather than when its space is reused; without the key, the erased client's
    sealed answers and words left in other tables' free space cannot be opened. The table holds
    one small row per client, so the rewrite's exclusive lock is brief. Best effort: it runs
    outside any transaction, and a row version that a transaction open elsewhere on the server
    may still see is kept until a later rewrite (`ally manage purge_expired` runs one hourly)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return  # VACUUM cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            # A transaction that read the table holds a lock the rewrite must wait for, and
            # every request for a client's key would queue behind the rewrite: give up soon.
            cursor.execute("SET lock_timeout = %s", [f"{KEY_TABLE_LOCK_WAIT_MS}ms"])
            try:
                cursor.execute(f'VACUUM (FULL) "{ClientKey._meta.db_table}"')
            finally:
                cursor.execute("RESET lock_timeout")
    except OperationalError:
        log.warning("The table of data keys could not be rewritten now; purge_expired will.")


def erase_rows(client: Client) -> dict[str, int]:
    """Delete the client and everything about them, in the caller's transaction; counts by
    model label (keys only, safe to log)."""
    if connection.vendor == "sqlite":
        # Freed pages are zeroed, not left in the file for a reader of the raw database, and
        # once committed the write-ahead log that still holds the old pages is emptied.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA secure_delete = ON")
        transaction.on_commit(_empty_the_write_ahead_log)
    elif connection.vendor == "postgresql":
        transaction.on_commit(rewrite_key_table)
    plan = rows_about(client)
    administration_model = apps.get_model("collect", "Administration")
    forms = next((keys for model, keys in plan if model is administration_model), set())
    counts: dict[str, int] = {}
    for model, keys in plan:
        # The base manager's plain queryset: Immutable's refusing queryset is not used here.
        models.QuerySet(model).filter(pk__in=keys).delete()
        counts[model._meta.label] = len(keys)
    visits = _visits_granting(forms)
    if visits:
        from django.contrib.sessions.models import Session as StoredSession

        StoredSession.objects.filter(session_key__in=visits).delete()
        counts["sessions.Session"] = len(visits)
    return counts


# The register ----------------------------------------------------------------------------------


def as_entry(record: ErasureRecord) -> dict[str, Any]:
    """A register record as plain data: keys and times only."""
    return {
        "organisation": record.organisation_id,
        "client": record.client_id,
        "client_created_at": record.client_created_at.isoformat(),
        "erased_at": record.erased_at.isoformat(),
        "erased_by": record.erased_by_id,
    }


def register_file() -> Path:
    return Path(settings.ALLY_DATA_DIR) / REGISTER_FILE


def _append_to_file(entries: Iterable[Mapping[str, Any]]) -> None:
    path = register_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as out:
        for entry in entries:
            out.write(json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())


def _keys_on_file() -> set[tuple[Any, Any]]:
    """(organisation, client) of the records on file, skipping lines that do not parse."""
    path = register_file()
    if not path.exists():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            keys.add((entry["organisation"], entry["client"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return keys


def write_to_file_on_commit(record: ErasureRecord) -> None:
    """Append the record to erasures.jsonl once the erasure is committed (never for one that was
    rolled back), unless the file holds it already."""
    entry = as_entry(record)

    def append() -> None:
        if (entry["organisation"], entry["client"]) not in _keys_on_file():
            _append_to_file([entry])

    transaction.on_commit(append)


def erasures_on_file() -> list[dict[str, Any]]:
    """The records in the data folder's erasures.jsonl (none when there is no file)."""
    path = register_file()
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                raise ErasureRegisterError(
                    f"{path}, line {number}: not a JSON record. Restore the file from a copy, or "
                    "remove the broken line after checking it against the erasure register."
                ) from None
    return entries


def erasure_register() -> list[dict[str, Any]]:
    """Every erasure recorded in this database, oldest first, as plain data (keys only)."""
    records = ErasureRecord.objects.order_by("erased_at", "pk")
    return [as_entry(record) for record in records]


def _parsed(entry: Mapping[str, Any], position: int) -> dict[str, Any]:
    missing = [name for name in RECORD_FIELDS if name not in entry]
    if missing:
        raise ErasureRegisterError(
            f"Erasure record {position} lacks {', '.join(missing)}; each record needs "
            f"{', '.join(RECORD_FIELDS)}."
        )
    try:
        return {
            "organisation": int(entry["organisation"]),
            "client": int(entry["client"]),
            "client_created_at": dt.datetime.fromisoformat(str(entry["client_created_at"])),
            "erased_at": dt.datetime.fromisoformat(str(entry["erased_at"])),
            "erased_by": int(entry["erased_by"]) if entry["erased_by"] is not None else None,
        }
    except (TypeError, ValueError):
        raise ErasureRegisterError(
            f"Erasure record {position} has a key that is not a number or a time that is not "
            "ISO 8601; check it against the register it came from."
        ) from None


def reapply_erasures(records: Iterable[Mapping[str, Any]]) -> int:
    """Erase again every client of `records` still in this database (after restoring an older
    copy, say); returns how many. Records missing from this database's register are added back.

    A client is erased only when its key and its creation time both match the record, so a
    client created later under a reused key is left alone.
    """
    entries = [_parsed(entry, n) for n, entry in enumerate(records, start=1)]
    erased = 0
    for entry in entries:
        with transaction.atomic():
            if not Organisation.objects.filter(pk=entry["organisation"]).exists():
                continue
            client = (
                Client.objects.select_for_update()
                .filter(pk=entry["client"], organisation_id=entry["organisation"])
                .first()
            )
            if client is not None and client.created_at != entry["client_created_at"]:
                log.warning(
                    "Erasure of client %s not applied again: a client with that key but another "
                    "creation time is in the database.",
                    entry["client"],
                )
                client = None
            if client is not None:
                audit.record("client.erasure_reapplied", actor=None, target=client)
                erase_rows(client)
                erased += 1
            by = entry["erased_by"]
            record, _created = ErasureRecord.objects.get_or_create(
                organisation_id=entry["organisation"],
                client_id=entry["client"],
                defaults={
                    "client_created_at": entry["client_created_at"],
                    "erased_at": entry["erased_at"],
                    "erased_by_id": by if Membership.objects.filter(pk=by).exists() else None,
                },
            )
            write_to_file_on_commit(record)
    return erased
