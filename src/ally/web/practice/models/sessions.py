"""Sessions, individual (one episode) or group (one group, with attendance per episode)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from ally.web.practice.models.episodes import Episode
from ally.web.practice.models.groups import Group
from ally.web.practice.models.organisations import Membership, Organisation, same_organisation
from ally.web.scoping import Scope, ScopedQuerySet


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    ATTENDED = "attended", "Attended"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


class Session(models.Model):
    """A meeting: with one client's episode, or with a group."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="sessions"
    )
    episode = models.ForeignKey(
        Episode, on_delete=models.PROTECT, related_name="sessions", null=True, blank=True
    )
    group = models.ForeignKey(
        Group, on_delete=models.PROTECT, related_name="sessions", null=True, blank=True
    )
    clinician = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="sessions_led", null=True, blank=True
    )
    number = models.PositiveIntegerField(
        null=True, blank=True, help_text="The session's number within its episode, from 1."
    )
    scheduled_at = models.DateTimeField()
    status = models.CharField(
        max_length=20, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(
        organisation="organisation",
        episodes=("episode", "attendances__episode"),
        members=("clinician", "group__leaders"),
    )

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=Q(episode__isnull=False, group__isnull=True)
                | Q(episode__isnull=True, group__isnull=False),
                name="session_individual_or_group",
            ),
            models.UniqueConstraint(
                fields=["episode", "number"],
                condition=Q(episode__isnull=False, number__isnull=False),
                name="session_number_unique_in_episode",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SessionStatus.values), name="session_status_known"
            ),
        )

    @property
    def is_group(self) -> bool:
        return self.group_id is not None

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self, self.episode, self.group, self.clinician)
        super().save(*args, **kwargs)


class Attendance(models.Model):
    """Whether one group member came to one group session."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="attendances")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="attendances")
    status = models.CharField(max_length=20, choices=SessionStatus.choices)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="session__organisation", episodes=("episode",))

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["session", "episode"], name="attendance_once"),
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self.session, self.episode)
        super().save(*args, **kwargs)
