"""Registering and revoking API clients, each audited in its transaction.

The client secret is made here, handed back once to show to the administrator, and stored only
hashed (django-oauth-toolkit's `hash_client_secret`, with the first of PASSWORD_HASHERS).
Revoking deletes the OAuth 2.0 credentials and every token with them: the next call with an
old token is a 401.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application

from ally.web import audit
from ally.web.apiclients.models import ApiClient
from ally.web.practice.models import Membership
from ally.web.scoping import (
    RECORDS_CLINICAL_DATA,
    ApiScope,
    Capability,
    Reach,
    Role,
    check_can,
)

NAME_LENGTH = ApiClient._meta.get_field("name").max_length or 100


class ApiClientError(Exception):
    """A registration or revocation refused, with a message for the administrator; `field`
    names the form field it concerns ("" for the whole form)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Registered:
    """A new client and its credentials; the secret is not stored in the clear anywhere."""

    client: ApiClient
    client_id: str
    client_secret: str


def do_register_api_client(
    actor: Membership,
    *,
    name: str,
    scopes: Collection[str],
    reach: str,
    clinician: Membership | None = None,
) -> Registered:
    """A new API client of the administrator's organisation, with its one-time secret."""
    check_can(actor, Capability.MANAGE_API_CLIENTS)
    name = name.strip()
    if not name:
        raise ApiClientError(
            _("Give the client a name, e.g. the program that will use it."), field="name"
        )
    if len(name) > NAME_LENGTH:
        raise ApiClientError(
            _("The name is too long: at most %(n)d characters.") % {"n": NAME_LENGTH}, field="name"
        )
    unknown = set(scopes) - set(ApiScope.values)
    if not scopes or unknown:
        raise ApiClientError(_("Choose at least one of the scopes listed."), field="scopes")
    if reach not in Reach.values:
        raise ApiClientError(
            _("Choose the whole practice or one clinician's caseload."), field="reach"
        )
    if Reach(reach) == Reach(Reach.CASELOAD):
        if clinician is None:
            raise ApiClientError(_("Choose whose caseload the client reaches."), field="clinician")
        if clinician.organisation_id != actor.organisation_id:
            raise Http404("Not found.")
        if not clinician.is_active or Role(clinician.role) not in RECORDS_CLINICAL_DATA:
            raise ApiClientError(
                _("Only an active clinician or supervisor holds a caseload; choose one of them."),
                field="clinician",
            )
    else:
        clinician = None
    secret = generate_client_secret()
    with transaction.atomic():
        application = Application.objects.create(
            name=name,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,
            hash_client_secret=True,
        )
        client = ApiClient.objects.create(
            organisation_id=actor.organisation_id,
            name=name,
            scopes=" ".join(scope for scope in ApiScope.values if scope in set(scopes)),
            reach=reach,
            clinician=clinician,
            application=application,
            registered_by=actor,
            registered_at=timezone.now(),
        )
        audit.record("api_client.registered", actor=actor, target=client)
    return Registered(client=client, client_id=application.client_id, client_secret=secret)


def do_revoke_api_client(actor: Membership, client: ApiClient) -> None:
    """Revoke the client: its credentials and every token it holds stop working at once."""
    check_can(actor, Capability.MANAGE_API_CLIENTS)
    if client.organisation_id != actor.organisation_id:
        raise Http404("Not found.")
    if client.revoked_at is not None:
        raise ApiClientError(_("This client is already revoked."))
    with transaction.atomic():
        application = client.application
        if application is not None:
            AccessToken.objects.filter(application=application).delete()
            application.delete()
        client.application = None
        client.revoked_at = timezone.now()
        client.revoked_by = actor
        client.save(update_fields=["application", "revoked_at", "revoked_by"])
        audit.record("api_client.revoked", actor=actor, target=client)
