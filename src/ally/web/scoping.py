"""Who sees what: the one place where roles and organisations limit every query.

Every view, API and export gets its rows through `scoped` (or ``Model.objects.for_member``) and
single objects through `get_scoped_or_404`. Another organisation's object is a 404, never a 403,
so a URL cannot confirm that a client exists elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.http import Http404

if TYPE_CHECKING:
    from ally.web.practice.models import Episode, Membership


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    CLINICIAN = "clinician", "Clinician"
    SUPERVISOR = "supervisor", "Supervisor"
    RESEARCHER = "researcher", "Researcher"


class Capability(StrEnum):
    """What a member may do; `CAPABILITIES` says which role may do which."""

    SEE_WHOLE_PRACTICE = "see_whole_practice"
    """Every episode of the organisation, not only one's caseload."""
    SEE_IDENTITY = "see_identity"
    """Clients' names and contact details."""
    RECORD_CLINICAL_DATA = "record_clinical_data"
    """Enter or amend answers, run episodes and their plans, act on alerts."""
    SEE_DASHBOARD = "see_dashboard"
    """The practice dashboard over clinicians and periods."""
    EXPORT_CLIENT_DATA = "export_client_data"
    """A client's data, for them (GDPR Art. 15 and 20)."""
    ERASE = "erase"
    """Erase a client, or record why not (GDPR Art. 17), and set the erasure policy."""
    MANAGE_MEMBERS = "manage_members"
    """Members' sign-in security: locked accounts, second factors, signing out everywhere."""
    READ_AUDIT_LOG = "read_audit_log"
    FIT_PRACTICE_MODEL = "fit_practice_model"
    """Fit the practice model on all answers now, besides the scheduled fit."""


CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role(Role.ADMIN): frozenset(Capability),
    Role(Role.SUPERVISOR): frozenset(
        {
            Capability.SEE_WHOLE_PRACTICE,
            Capability.SEE_IDENTITY,
            Capability.RECORD_CLINICAL_DATA,
            Capability.SEE_DASHBOARD,
        }
    ),
    Role(Role.CLINICIAN): frozenset(
        {
            Capability.SEE_IDENTITY,
            Capability.RECORD_CLINICAL_DATA,
            Capability.EXPORT_CLIENT_DATA,
        }
    ),
    # Researchers read the whole practice de-identified and change nothing.
    Role(Role.RESEARCHER): frozenset({Capability.SEE_WHOLE_PRACTICE, Capability.SEE_DASHBOARD}),
}
"""The one answer to every "who may": views, the API, templates and exports ask it."""


def can(membership: Membership, capability: Capability) -> bool:
    """Whether the member's role gives `capability`."""
    return capability in CAPABILITIES[Role(membership.role)]


def roles_with(capability: Capability) -> frozenset[Role]:
    """The roles that may do `capability`, for a view's `member_view(roles=...)`."""
    return frozenset(role for role, given in CAPABILITIES.items() if capability in given)


WHOLE_ORGANISATION = roles_with(Capability.SEE_WHOLE_PRACTICE)
"""Roles that see every episode of their organisation; clinicians see their caseload only."""

DE_IDENTIFIED = frozenset(Role) - roles_with(Capability.SEE_IDENTITY)
"""Roles that never see identifying rows (names, contact details)."""

RECORDS_CLINICAL_DATA = roles_with(Capability.RECORD_CLINICAL_DATA)
"""Roles that may enter or amend answers and act on alerts; researchers only read."""


@dataclass(frozen=True)
class Scope:
    """How a model's rows reach an organisation and an episode, declared on the model as `scope`.

    organisation: path to the Organisation's key ("organisation", "episode__organisation").
    episodes:     paths to an Episode; a clinician sees a row when any of them is in their caseload.
    members:      paths to a Membership; a clinician also sees rows that name them (a group leader).
    caseload:     False for rows every member of the organisation sees (its members, its groups'
                  names); True limits clinicians to their caseload.
    identifying:  rows that identify a client; de-identified roles see none of them.
    """

    organisation: str
    episodes: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    caseload: bool = True
    identifying: bool = False


def _scope_of(model: type[models.Model]) -> Scope:
    scope = getattr(model, "scope", None)
    if not isinstance(scope, Scope):
        raise TypeError(
            f"{model.__name__} declares no `scope = Scope(...)`, so it cannot be scoped; "
            "add one naming the path to its organisation and episode."
        )
    return scope


def caseload(membership: Membership) -> models.QuerySet[Episode]:
    """The episodes a clinician works on: as the assigned clinician or in the care team."""
    episode_model = apps.get_model("practice", "Episode")
    return episode_model.objects.filter(organisation_id=membership.organisation_id).filter(
        Q(clinician=membership) | Q(care_team__member=membership)
    )


def scoped(rows: type[models.Model] | models.QuerySet[Any], membership: Membership) -> Any:
    """The rows of `rows` (a model or a queryset) that `membership` may see."""
    queryset = cast(Any, rows)._default_manager.all() if isinstance(rows, type) else rows
    model = queryset.model
    scope = _scope_of(model)
    if not (membership.is_active and membership.user.is_active):
        return queryset.none()
    role = Role(membership.role)
    if scope.identifying and role in DE_IDENTIFIED:
        return queryset.none()
    queryset = queryset.filter(**{scope.organisation: membership.organisation_id})
    if role in WHOLE_ORGANISATION or not scope.caseload:
        return queryset
    visible = Q(pk__in=[]) if not (scope.episodes or scope.members) else Q()
    episode_ids = caseload(membership).values("pk")
    conditions = [Q(**{f"{path}__in": episode_ids}) for path in scope.episodes]
    conditions += [Q(**{path: membership}) for path in scope.members]
    for condition in conditions:
        visible |= condition
    # A subquery keeps each row once, whatever joins the paths take.
    return queryset.filter(pk__in=model._base_manager.filter(visible).values("pk"))


def get_scoped_or_404(
    rows: type[models.Model] | models.QuerySet[Any], membership: Membership, **lookup: Any
) -> Any:
    """One object that `membership` may see, or Http404 (also for another organisation's)."""
    queryset = scoped(rows, membership)
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


def membership_or_404(user: Any, organisation_slug: str) -> Membership:
    """The user's active membership of the organisation, or Http404 when they have none."""
    membership_model = apps.get_model("practice", "Membership")
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise Http404("Not found.")
    try:
        return membership_model.objects.select_related("organisation", "user").get(
            user=user, organisation__slug=organisation_slug, is_active=True
        )
    except membership_model.DoesNotExist:
        raise Http404("Not found.") from None


def check_can_record(membership: Membership, episode: Episode) -> None:
    """Refuse a write by a role that only reads (403), or on an episode out of scope (404)."""
    if Role(membership.role) not in RECORDS_CLINICAL_DATA:
        raise PermissionDenied("Your role can read this practice's data but not change it.")
    get_scoped_or_404(apps.get_model("practice", "Episode"), membership, pk=episode.pk)


class ScopedQuerySet(models.QuerySet):
    """The default queryset of every organisation-owned model."""

    def for_member(self, membership: Membership) -> Any:
        return scoped(self, membership)
