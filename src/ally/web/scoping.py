"""Who sees what: the one place where roles and organisations limit every query.

Every view, API and export gets its rows through `scoped` (or ``Model.objects.for_member``) and
single objects through `get_scoped_or_404`. Another organisation's object is a 404, never a 403,
so a URL cannot confirm that a client exists elsewhere.

A caller is a member (a `Membership`: its role gives its capabilities) or an API client calling
with a token (an `ApiClient`: its scopes and its reach give them). Both are answered by the same
capability table and the same `scoped`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.http import Http404
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from ally.web.apiclients.models import ApiClient
    from ally.web.practice.models import Episode, Membership

    Caller: TypeAlias = Membership | ApiClient


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    CLINICIAN = "clinician", _("Clinician")
    SUPERVISOR = "supervisor", _("Supervisor")
    RESEARCHER = "researcher", _("Researcher")


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
    READ_EPISODES = "read_episodes"
    """Episodes with their administrations, scores, feedback and alerts (within one's reach)."""
    RECORD_ANSWERS = "record_answers"
    """Give a measure (a new administration) and enter its answers; a part of
    RECORD_CLINICAL_DATA that an API client may be given."""
    READ_FHIR = "read_fhir"
    """The same data as FHIR resources."""
    EXPORT_RESEARCH_DATA = "export_research_data"
    """A de-identified data set of the whole practice, for research."""
    MANAGE_API_CLIENTS = "manage_api_clients"
    """Register and revoke the programs that call the API with a token."""
    PLAY_RECORDINGS = "play_recordings"
    """Play a recorded session, read its transcript and the words of its marks (where the
    client's consent reaches the member: ally.web.ipr.access)."""


CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role(Role.ADMIN): frozenset(Capability),
    Role(Role.SUPERVISOR): frozenset(
        {
            Capability.SEE_WHOLE_PRACTICE,
            Capability.SEE_IDENTITY,
            Capability.RECORD_CLINICAL_DATA,
            Capability.SEE_DASHBOARD,
            Capability.READ_EPISODES,
            Capability.RECORD_ANSWERS,
            Capability.READ_FHIR,
            Capability.PLAY_RECORDINGS,
        }
    ),
    Role(Role.CLINICIAN): frozenset(
        {
            Capability.PLAY_RECORDINGS,
            Capability.SEE_IDENTITY,
            Capability.RECORD_CLINICAL_DATA,
            Capability.EXPORT_CLIENT_DATA,
            Capability.READ_EPISODES,
            Capability.RECORD_ANSWERS,
            Capability.READ_FHIR,
        }
    ),
    # Researchers read the whole practice de-identified and change nothing.
    Role(Role.RESEARCHER): frozenset(
        {
            Capability.SEE_WHOLE_PRACTICE,
            Capability.SEE_DASHBOARD,
            Capability.READ_EPISODES,
            Capability.READ_FHIR,
            Capability.EXPORT_RESEARCH_DATA,
        }
    ),
}
"""The one answer to every "who may": views, the API, templates and exports ask it."""


class ApiScope(models.TextChoices):
    """What an administrator lets an API client do (OAuth 2.0 scopes, RFC 6749 §3.3)."""

    READ_EPISODES = "episodes:read", _("Read episodes, scores, feedback and alerts")
    WRITE_RESPONSES = "responses:write", _("Give measures and record answers")
    READ_FHIR = "fhir:read", _("Read the same data as FHIR resources")
    EXPORT_RESEARCH_DATA = "research:export", _("Export de-identified research data")


class Reach(models.TextChoices):
    """Which episodes an API client's token reaches."""

    PRACTICE = "practice", _("The whole practice")
    CASELOAD = "caseload", _("One clinician's caseload")


SCOPE_CAPABILITIES: dict[ApiScope, frozenset[Capability]] = {
    ApiScope(ApiScope.READ_EPISODES): frozenset({Capability.READ_EPISODES}),
    ApiScope(ApiScope.WRITE_RESPONSES): frozenset({Capability.RECORD_ANSWERS}),
    ApiScope(ApiScope.READ_FHIR): frozenset({Capability.READ_FHIR}),
    ApiScope(ApiScope.EXPORT_RESEARCH_DATA): frozenset({Capability.EXPORT_RESEARCH_DATA}),
}
"""What each scope of a token gives: the API clients' rows of the one table. No scope gives
SEE_IDENTITY, so a token never reads a client's name or contact details; none gives a
member's work (acting on alerts, running episodes, managing the practice)."""

REACH_CAPABILITIES: dict[Reach, frozenset[Capability]] = {
    Reach(Reach.PRACTICE): frozenset({Capability.SEE_WHOLE_PRACTICE}),
    Reach(Reach.CASELOAD): frozenset(),
}
"""A client that reaches one clinician's caseload sees what that clinician sees (`caseload`)."""


def token_capabilities(scopes: Collection[str], reach: str) -> frozenset[Capability]:
    """What an API client's token may do: its scopes' capabilities and its reach's."""
    given = set(REACH_CAPABILITIES[Reach(reach)])
    for scope in scopes:
        given |= SCOPE_CAPABILITIES[ApiScope(scope)]
    return frozenset(given)


def scopes_giving(capability: Capability) -> frozenset[ApiScope]:
    """The scopes whose tokens may do `capability` (none for a member's own work)."""
    return frozenset(scope for scope, given in SCOPE_CAPABILITIES.items() if capability in given)


def _is_member(caller: Caller) -> bool:
    return isinstance(caller, apps.get_model("practice", "Membership"))


def capabilities(caller: Caller) -> frozenset[Capability]:
    """A member's capabilities by their role; an API client's by its token's scopes and reach."""
    if _is_member(caller):
        return CAPABILITIES[Role(cast("Membership", caller).role)]
    return cast("ApiClient", caller).capabilities


def can(caller: Caller, capability: Capability) -> bool:
    """Whether the member's role (or the API client's scopes and reach) gives `capability`."""
    return capability in capabilities(caller)


def refusal(caller: Caller, capability: Capability) -> str:
    """Why `caller` may not do `capability`, and what would allow it, for a 403."""
    if _is_member(caller):
        if capability in (Capability.RECORD_CLINICAL_DATA, Capability.RECORD_ANSWERS):
            return "Your role can read this practice's data but not change it."
        return "Your role does not allow this."
    scopes = sorted(scopes_giving(capability))
    if not scopes:
        return "API clients may not do this; a member of the practice does it in Ally's pages."
    return (
        f"This API client's token lacks the scope {' or '.join(scopes)}; an administrator of "
        "the practice can register a client with it, and the token must ask for it."
    )


def check_can(caller: Caller, capability: Capability) -> None:
    """Refuse (403, saying which scope or role would allow it) unless `caller` may."""
    if not can(caller, capability):
        raise PermissionDenied(refusal(caller, capability))


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


def _caseload_owner(caller: Caller) -> Membership | None:
    """Whose caseload limits the caller: the member themself, or an API client's clinician."""
    if _is_member(caller):
        return cast("Membership", caller)
    return cast("ApiClient", caller).clinician


def caseload(caller: Caller) -> models.QuerySet[Episode]:
    """The episodes a clinician works on: as the assigned clinician, in the care team, or as a
    leader of a group the client takes part in (for an API client that reaches a caseload, its
    clinician's)."""
    episode_model = apps.get_model("practice", "Episode")
    owner = _caseload_owner(caller)
    if owner is None:
        return episode_model.objects.none()
    return episode_model.objects.filter(organisation_id=caller.organisation_id).filter(
        Q(clinician=owner) | Q(care_team__member=owner) | Q(group_places__group__leaders=owner)
    )


def _active(caller: Caller) -> bool:
    if _is_member(caller):
        membership = cast("Membership", caller)
        return membership.is_active and membership.user.is_active
    # Not revoked, and (for a caseload) its clinician still a member.
    return cast("ApiClient", caller).is_active


def scoped(rows: type[models.Model] | models.QuerySet[Any], caller: Caller) -> Any:
    """The rows of `rows` (a model or a queryset) that `caller` may see."""
    queryset = cast(Any, rows)._default_manager.all() if isinstance(rows, type) else rows
    model = queryset.model
    scope = _scope_of(model)
    if not _active(caller):
        return queryset.none()
    given = capabilities(caller)
    if scope.identifying and Capability.SEE_IDENTITY not in given:
        return queryset.none()
    queryset = queryset.filter(**{scope.organisation: caller.organisation_id})
    if Capability.SEE_WHOLE_PRACTICE in given or not scope.caseload:
        return queryset
    visible = Q(pk__in=[]) if not (scope.episodes or scope.members) else Q()
    episode_ids = caseload(caller).values("pk")
    conditions = [Q(**{f"{path}__in": episode_ids}) for path in scope.episodes]
    owner = _caseload_owner(caller)
    conditions += [Q(**{path: owner}) for path in scope.members] if owner is not None else []
    for condition in conditions:
        visible |= condition
    # A subquery keeps each row once, whatever joins the paths take.
    return queryset.filter(pk__in=model._base_manager.filter(visible).values("pk"))


def get_scoped_or_404(
    rows: type[models.Model] | models.QuerySet[Any], caller: Caller, **lookup: Any
) -> Any:
    """One object that `caller` may see, or Http404 (also for another organisation's)."""
    queryset = scoped(rows, caller)
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


def check_can_record(
    caller: Caller, episode: Episode, capability: Capability = Capability.RECORD_CLINICAL_DATA
) -> None:
    """Refuse a write by a caller that only reads (403), or on an episode out of scope (404).

    `capability` is the write's: RECORD_ANSWERS for giving a measure and entering answers (an
    API client with the scope responses:write may), RECORD_CLINICAL_DATA for the rest.
    """
    check_can(caller, capability)
    get_scoped_or_404(apps.get_model("practice", "Episode"), caller, pk=episode.pk)


class ScopedQuerySet(models.QuerySet):
    """The default queryset of every organisation-owned model."""

    def for_member(self, caller: Caller) -> Any:
        return scoped(self, caller)
