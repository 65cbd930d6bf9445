"""The register of research exports: who made one, when, how, and how many rows it held."""

from __future__ import annotations

from django.db import models

from ally.interop.research import DateProfile
from ally.web.apiclients.models import ApiClient
from ally.web.practice.models import Membership, Organisation
from ally.web.scoping import Scope, ScopedQuerySet


class Via(models.TextChoices):
    PAGE = "page", "The research export page"
    API = "api", "The API, with a token"
    COMMAND = "command", "The ally export research command"


class ResearchExport(models.Model):
    """One research export, named by the audit entry written with it. It keeps the profile and
    the row counts, never the rows, the pseudonyms or the date offsets."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="research_exports"
    )
    exported_at = models.DateTimeField()
    exported_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    api_client = models.ForeignKey(
        ApiClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    via = models.CharField(max_length=20, choices=Via.choices)
    dates = models.CharField(
        max_length=10, choices=[(p.value, p.value) for p in DateProfile], default=DateProfile.SHIFT
    )
    min_cell = models.PositiveIntegerField()
    clients = models.PositiveIntegerField()
    episodes = models.PositiveIntegerField()
    administrations = models.PositiveIntegerField()

    objects = ScopedQuerySet.as_manager()
    # Counts and a profile only: every member of the practice may see that an export was made.
    scope = Scope(organisation="organisation", caseload=False)

    class Meta:
        ordering = ("-exported_at", "-pk")

    def __str__(self) -> str:
        return f"research export {self.pk} ({self.dates}, {self.administrations} administrations)"
