"""What a group needs beside practice's `Group`, `GroupMember`, `Session` and `Attendance`.

A group session is a practice `Session` of the group. Each member who takes part gets a session
of their own episode beside it (`MemberSession`), numbered within that episode: their forms, their
plan, their results and their care team stay theirs, and a member who joins late starts at their
own session 1 (rolling membership).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Q

from ally.web.collect.models import Administration, PlannedMeasure, Respondent, Timing
from ally.web.goals.models import Sealed
from ally.web.practice.models import Episode, Group, Session, same_organisation
from ally.web.scoping import Scope, ScopedQuerySet


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class GroupSchedule(models.Model):
    """When the group meets: a weekday and a time, every so many weeks."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="schedule")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts_at = models.TimeField()
    minutes = models.PositiveIntegerField(default=90)
    every_weeks = models.PositiveSmallIntegerField(default=1)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(
        organisation="group__organisation",
        episodes=("group__members__episode",),
        members=("group__leaders",),
    )

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6, every_weeks__gte=1, minutes__gte=1),
                name="group_schedule_sensible",
            ),
        )


class GroupPlannedMeasure(models.Model):
    """A measure every member answers at the group's sessions first, first + every, ... last
    (numbered within the group), beside the measures of their own plan."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="plan_entries")
    measure_id = models.CharField(max_length=60)
    respondent = models.CharField(
        max_length=20, choices=Respondent.choices, default=Respondent.CLIENT
    )
    timing = models.CharField(max_length=10, choices=Timing.choices)
    first_session = models.PositiveIntegerField(default=1)
    every = models.PositiveIntegerField(default=1)
    last_session = models.PositiveIntegerField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(
        organisation="group__organisation",
        episodes=("group__members__episode",),
        members=("group__leaders",),
    )

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=Q(first_session__gte=1, every__gte=1), name="group_plan_from_one"
            ),
            models.CheckConstraint(
                condition=Q(last_session__isnull=True) | Q(last_session__gte=F("first_session")),
                name="group_plan_last_after_first",
            ),
            models.UniqueConstraint(
                fields=["group", "measure_id", "respondent", "timing"], name="group_plan_once"
            ),
        )

    # One rule for "is this measure given at session n", the episode plan's.
    applies_to = PlannedMeasure.applies_to


class MemberSession(models.Model):
    """One member's part in one group session: a session of their own episode."""

    group_session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="member_sessions"
    )
    session = models.OneToOneField(Session, on_delete=models.CASCADE, related_name="group_part")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="group_sessions")

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="session__organisation", episodes=("episode",))

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=["group_session", "episode"], name="member_session_once"
            ),
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self.group_session, self.session, self.episode)
        super().save(*args, **kwargs)


class CheckInNote(Sealed):
    """What a member wrote, if they wished, about what made it harder to take part: read by the
    group's leaders beside the check-in's answers; never shown to other members. The words are
    the client's, sealed under their data key (`text`)."""

    administration = models.OneToOneField(
        Administration, on_delete=models.PROTECT, related_name="check_in_note"
    )
    written_at = models.DateTimeField()

    objects = ScopedQuerySet.as_manager()
    scope = Scope(
        organisation="administration__episode__organisation", episodes=("administration__episode",)
    )

    def client_id_for_key(self) -> int:
        return int(self.administration.episode.client_id)

    def seal_key(self) -> str:
        return str(self.administration_id)

    @property
    def text(self) -> str:
        return self.words()["text"]

    def __str__(self) -> str:
        # Never the words: objects end up in logs and error pages.
        return f"check-in note of administration {self.administration_id}"


def sealed_rows_of(client_id: int) -> list[Sealed]:
    """Every row sealed with the client's data key here, for key rotation."""
    return list(
        CheckInNote.objects.filter(administration__episode__client_id=client_id).select_related(
            "administration__episode"
        )
    )
