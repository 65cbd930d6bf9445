"""Privacy's rows: each client's wrapped data key, the erasure register, refusals of erasure with
their exemption, and the key rotations done. None of them holds a name or a contact detail."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from ally.web.practice.models import Client, Membership, Organisation
from ally.web.scoping import Scope, ScopedQuerySet


class ClientKey(models.Model):
    """A client's data key, wrapped by the master key of `master_version`.

    Deleting this row destroys the key: the client's sealed details cannot be opened again.
    """

    client = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="data_key")
    generation = models.PositiveIntegerField(
        default=1, help_text="1 for the client's first data key; rotate_keys --data-keys adds 1."
    )
    master_version = models.PositiveIntegerField(help_text="The master key that wraps this one.")
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="client__organisation", episodes=("client__episodes",))

    def __str__(self) -> str:
        return f"data key {self.generation} of client {self.client_id}"


class ErasureRecord(models.Model):
    """That a client was erased (GDPR Art. 17): keys and times only, so it may be kept.

    The client's key and creation time let the erasure be applied again to an older copy of the
    database without touching a client created later under a reused key.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="erasures"
    )
    client_id = models.BigIntegerField(help_text="The erased client's key (the row is gone).")
    client_created_at = models.DateTimeField()
    erased_at = models.DateTimeField()
    erased_by = models.ForeignKey(
        Membership,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Empty when erased by `ally manage erase_client`.",
    )

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", caseload=False)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["organisation", "client_id"], name="erased_once"),
        )

    def __str__(self) -> str:
        return f"erasure of client {self.client_id}"


class Exemption(models.TextChoices):
    """Grounds in GDPR Art. 17(3) on which a practice may keep data it was asked to erase."""

    LEGAL_OBLIGATION = "legal_obligation", _("A legal obligation to keep the records (17(3)(b))")
    PUBLIC_HEALTH = "public_health", _("Public health or health care (17(3)(c))")
    RESEARCH = "research", _("Archiving, research or statistics (17(3)(d))")
    LEGAL_CLAIMS = "legal_claims", _("Establishing or defending legal claims (17(3)(e))")


class ErasureRefusal(models.Model):
    """A request for erasure the practice declined, with the exemption it relies on and why."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="erasure_refusals"
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="erasure_refusals")
    exemption = models.CharField(max_length=30, choices=Exemption.choices)
    reason = models.TextField(help_text="Which duty or claim, and until when the data is kept.")
    decided_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("client__episodes",))

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=models.Q(exemption__in=Exemption.values), name="refusal_exemption_known"
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="refusal_has_reason"),
        )

    def __str__(self) -> str:
        return f"erasure refusal {self.pk} for client {self.client_id}"


class KeyRotation(models.Model):
    """One run of `ally manage rotate_keys`: which master key, how many data keys it changed."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    master_version = models.PositiveIntegerField()
    data_keys = models.BooleanField(help_text="Whether clients got new data keys too.")
    rewrapped = models.PositiveIntegerField(default=0)
    renewed = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"key rotation {self.pk} to master key {self.master_version}"
