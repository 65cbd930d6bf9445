"""Appending to the hash chain and checking it.

Each entry's digest is SHA-256 over the previous digest and the entry's own fields, so a changed,
inserted or removed entry breaks every digest after it. Appends take turns: on PostgreSQL by a
transaction-scoped advisory lock, on SQLite by the write lock every transaction takes at its
start (transaction_mode IMMEDIATE, see database.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ally.web.auditlog.models import AuditEntry

GENESIS = "0" * 64
LOCK_KEY = 0x41_4C_4C_59  # "ALLY": one advisory lock for the whole chain


def digest_of(entry: AuditEntry) -> str:
    fields: list[object] = [
        entry.previous,
        entry.at.isoformat(),
        entry.organisation_id,
        entry.actor_id,
        entry.action,
        entry.target_type,
        entry.target_id,
    ]
    # The address and the API client joined the entry later: entries without them keep their
    # original digest.
    if entry.ip:
        fields.append(entry.ip)
    if entry.api_client_id is not None:
        fields.append(["api_client", entry.api_client_id])
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


INVALID_ADDRESS = "invalid"
"""Stored for a request whose address is no IP address (a forged X-Forwarded-For, say)."""


def address(text: str) -> str:
    """The request's address as an entry keeps it: an IPv4 or IPv6 address in its usual
    spelling, "" when there is none (a command, a job), and INVALID_ADDRESS for anything else,
    so that no text a caller chose reaches the log or its export."""
    if not text:
        return ""
    # An IPv6 zone ("fe80::1%eth0") is the server's interface, not the client, and Python takes
    # any text there.
    host, _, _zone = text.partition("%")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return INVALID_ADDRESS


def _organisation_of(target: Any) -> int | None:
    """Follow the target's declared scope (`Scope.organisation`) to its organisation's key."""
    scope = getattr(type(target), "scope", None)
    if scope is None:
        return None
    value: Any = target
    *path, last = scope.organisation.split("__")
    for step in path:
        value = getattr(value, step, None)
        if value is None:
            return None
    return value.pk if last == "pk" else getattr(value, f"{last}_id", None)


def append(action: str, *, actor: Any, target: Any) -> AuditEntry:
    """Add an entry about a model row at the end of the chain, in the caller's transaction."""
    return append_event(
        action,
        actor=actor,
        organisation_id=_organisation_of(target),
        target_type=type(target)._meta.label,
        target_id=str(target.pk),
    )


def append_event(
    action: str,
    *,
    actor: Any,
    organisation_id: int | None,
    target_type: str,
    target_id: str = "",
) -> AuditEntry:
    """Add an entry at the end of the chain, in the caller's transaction."""
    from ally.web.audit import current_ip

    # An API client's call names the client, not a person (`ApiClient.is_api_client`).
    api_client_id = actor.pk if getattr(actor, "is_api_client", False) else None
    # Inside the caller's transaction no savepoint is needed: a failure undoes the whole change.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        last = AuditEntry.objects.order_by("-pk").values_list("digest", flat=True).first()
        entry = AuditEntry(
            at=timezone.now(),
            organisation_id=organisation_id,
            actor_id=None if api_client_id is not None else getattr(actor, "pk", None),
            api_client_id=api_client_id,
            action=action,
            target_type=target_type[:60],
            target_id=target_id[:40],
            ip=address(current_ip()),
            previous=last or GENESIS,
        )
        entry.digest = digest_of(entry)
        entry.save()
    return entry


@dataclass(frozen=True)
class Verdict:
    entries: int
    broken_at: int | None
    """The key of the first entry whose link or digest does not hold; None when all hold."""

    @property
    def holds(self) -> bool:
        return self.broken_at is None


def verify() -> Verdict:
    """Recompute every digest and link, oldest first."""
    previous = GENESIS
    count = 0
    for entry in AuditEntry.objects.order_by("pk").iterator(chunk_size=2000):
        count += 1
        if entry.previous != previous or digest_of(entry) != entry.digest:
            return Verdict(count, entry.pk)
        previous = entry.digest
    return Verdict(count, None)
