"""The write path for privacy: erasing a client, refusing an erasure on a documented exemption,
and the practice's erasure policy. Each is audited inside its transaction (keys only)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.web import audit
from ally.web.practice.models import Client, Membership, Organisation
from ally.web.privacy.erasure import erase_rows, write_to_file_on_commit
from ally.web.privacy.models import ErasureRecord, ErasureRefusal, Exemption
from ally.web.scoping import Capability, can, get_scoped_or_404, roles_with

ERASERS = roles_with(Capability.ERASE)
EXPORTERS = roles_with(Capability.EXPORT_CLIENT_DATA)
"""Roles that download a client's export; a clinician only for the clients they see."""


class PrivacyActionError(Exception):
    """A privacy change that cannot be made as asked; `field` names the form field ("" for the
    whole form)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def check_can_erase(actor: Membership, client: Client) -> None:
    """An active administrator of the client's organisation (another's client is a 404)."""
    get_scoped_or_404(Client, actor, pk=client.pk)
    if not can(actor, Capability.ERASE):
        raise PermissionDenied(_("Only the practice's administrators decide on erasure."))


def do_erase_client(client: Client, *, actor: Membership | None) -> ErasureRecord:
    """Erase the client and everything about them; leave an ErasureRecord and the audit entries.

    `actor` is the administrator, or None for `ally manage erase_client` on the server.
    """
    if actor is not None:
        check_can_erase(actor, client)
    with transaction.atomic():
        locked = Client.objects.select_for_update().filter(pk=client.pk).first()
        if locked is None:
            raise Http404("Not found.")
        # The entry names the client's key before the row goes; it never held more.
        audit.record("client.erased", actor=actor, target=locked)
        erase_rows(locked)
        record = ErasureRecord.objects.create(
            organisation_id=locked.organisation_id,
            client_id=locked.pk,
            client_created_at=locked.created_at,
            erased_at=timezone.now(),
            erased_by=actor,
        )
        write_to_file_on_commit(record)
    return record


def do_refuse_erasure(
    client: Client, exemption: str, reason: str, *, actor: Membership
) -> ErasureRefusal:
    """Record that a request for erasure was declined, on which exemption and why."""
    check_can_erase(actor, client)
    reason = reason.strip()
    if exemption not in Exemption.values:
        raise PrivacyActionError(
            _("Choose the exemption the practice relies on."), field="exemption"
        )
    if not reason:
        raise PrivacyActionError(
            _("Say which duty or claim requires keeping the data, and until when."),
            field="reason",
        )
    with transaction.atomic():
        refusal = ErasureRefusal.objects.create(
            organisation_id=client.organisation_id,
            client=client,
            exemption=exemption,
            reason=reason,
            decided_by=actor,
            decided_at=timezone.now(),
        )
        audit.record("client.erasure_refused", actor=actor, target=refusal)
    return refusal


def do_set_erasure_policy(organisation: Organisation, text: str, *, actor: Membership) -> None:
    """The practice's documented answer to requests for erasure, shown when one is decided."""
    if actor.organisation_id != organisation.pk or not actor.is_active:
        raise Http404("Not found.")
    if not can(actor, Capability.ERASE):
        raise PermissionDenied(_("Only the practice's administrators decide on erasure."))
    with transaction.atomic():
        organisation.erasure_policy = text.strip()
        organisation.save(update_fields=["erasure_policy"])
        audit.record("organisation.erasure_policy", actor=actor, target=organisation)
