"""Episodes of care: one client, an assigned clinician and a care team of other professionals."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from ally.web.practice.models.clients import Client
from ally.web.practice.models.organisations import Membership, Organisation, same_organisation
from ally.web.scoping import Scope, ScopedQuerySet


class EndReason(models.TextChoices):
    PLANNED = "planned", "Planned ending"
    DROPOUT = "dropout", "Client stopped coming"
    REFERRED = "referred", "Referred elsewhere"
    OTHER = "other", "Other"


class Episode(models.Model):
    """One course of therapy or coaching for one client, from opening to ending."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="episodes"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="episodes")
    clinician = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="caseload")
    opened_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("pk",))

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=models.Q(ended_on__isnull=True, end_reason="")
                | models.Q(ended_on__isnull=False) & ~models.Q(end_reason=""),
                name="episode_ending_has_reason",
            ),
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self, self.client, self.clinician)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"episode {self.pk} of client {self.client_id}"


class TeamRole(models.TextChoices):
    """A care-team member's part in the episode."""

    CO_THERAPIST = "co-therapist", _("co-therapist")
    PSYCHIATRIST = "psychiatrist", _("psychiatrist")
    SUPERVISOR = "supervisor", _("supervisor")
    OTHER = "", _("no role given")


class CareTeamMember(models.Model):
    """A further professional on an episode (a psychiatrist, a co-therapist): sees it like the
    assigned clinician."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="care_team")
    member = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="care_teams")
    role = models.CharField(max_length=100, blank=True, choices=TeamRole.choices)
    receives_alerts = models.BooleanField(
        default=True,
        help_text="Whether the episode's alerts are in this member's alert list and count; the "
        "assigned clinician always receives them.",
    )
    added_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["episode", "member"], name="care_team_member_once"),
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self.episode, self.member)
        super().save(*args, **kwargs)
