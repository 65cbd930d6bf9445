"""Research exports: a de-identified data set of the whole practice, made and audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from ally.interop.research import DateProfile
from ally.web import audit
from ally.web.apiclients.models import ApiClient
from ally.web.practice.models import Membership, Organisation
from ally.web.research.export import Built
from ally.web.research.models import ResearchExport
from ally.web.scoping import Capability, can, check_can

T = TypeVar("T")


def do_export_research(
    organisation: Organisation,
    make: Callable[[], tuple[T, Built]],
    *,
    actor: Membership | ApiClient | None,
    via: str,
    dates: DateProfile,
    min_cell: int,
) -> tuple[T, ResearchExport]:
    """Make the export with `make` (writing its files or its ZIP), then record it: a
    `ResearchExport` row with the profile and the row counts, and its audit entry, in one
    transaction. `actor` None is a command run on the server. The export is refused (403)
    unless the actor may export research data, and recorded only once it was made."""
    if actor is not None:
        check_can(actor, Capability.EXPORT_RESEARCH_DATA)
        if not can(actor, Capability.SEE_WHOLE_PRACTICE):
            raise PermissionDenied(
                "A research export covers the whole practice; this API client reaches one "
                "caseload. An administrator can register a client that reaches the practice."
            )
        if actor.organisation_id != organisation.pk:
            raise ValueError("An export is made by a member or client of its own practice.")
    result, built = make()
    fields: dict[str, Any] = {
        "exported_by": actor if isinstance(actor, Membership) else None,
        "api_client": actor if isinstance(actor, ApiClient) else None,
    }
    with transaction.atomic():
        record = ResearchExport.objects.create(
            organisation=organisation,
            exported_at=timezone.now(),
            via=via,
            dates=dates,
            min_cell=min_cell,
            clients=built.clients,
            episodes=built.episodes,
            administrations=built.administrations,
            **fields,
        )
        audit.record("research.exported", actor=actor, target=record)
    return result, record
