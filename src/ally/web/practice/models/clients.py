"""Clients: a non-identifying code, with names and contact details kept apart.

ClientIdentity is the only model that identifies a person, so the security work can encrypt
exactly these fields and de-identified roles never see them.
"""

from __future__ import annotations

from django.db import models

from ally.web.practice.models.organisations import Organisation
from ally.web.scoping import Scope, ScopedQuerySet


class Client(models.Model):
    """A person in care, known in Ally's screens and exports by a code that does not identify."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="clients")
    code = models.CharField(
        max_length=40, help_text="A code chosen by the practice; never a name or a date of birth."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("episodes",))

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["organisation", "code"], name="client_code_unique"),
        )

    def __str__(self) -> str:
        return self.code


class ClientIdentity(models.Model):
    """Who the client is and how to reach them: the fields the security issue encrypts."""

    client = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="identity")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(
        organisation="client__organisation", episodes=("client__episodes",), identifying=True
    )

    def __str__(self) -> str:
        # Never the name: objects end up in logs and error pages.
        return f"identity of client {self.client_id}"
