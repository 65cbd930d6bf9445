"""One audit entry: who did what to which row, when and from where; never what the row says."""

from __future__ import annotations

from django.db import models

from ally.web.collect.models.immutable import Immutable


class AuditEntry(Immutable):
    """Written once inside the transaction of the change it records; never updated or deleted.

    Rows are named by model and key only, and organisations and members by key (not foreign
    keys), so that no clinical content is in the log and erasing a client leaves it whole.
    """

    at = models.DateTimeField()
    organisation_id = models.BigIntegerField(null=True)
    actor_id = models.BigIntegerField(
        null=True, help_text="The Membership; empty for a client, an API client or a job."
    )
    api_client_id = models.BigIntegerField(
        null=True, blank=True, help_text="The ApiClient whose token made the call, if one did."
    )
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=40, blank=True)
    ip = models.CharField(
        max_length=45, blank=True, default="", help_text="Where the request came from."
    )
    previous = models.CharField(max_length=64, help_text="The digest of the entry before.")
    digest = models.CharField(max_length=64, unique=True)

    class Meta:
        indexes = (models.Index(fields=["organisation_id", "at"]),)

    def __str__(self) -> str:
        return f"audit {self.pk}: {self.action} {self.target_type} {self.target_id}"
