"""A member's self-care check-ins and the schedule they chose. No `scope`: see the package."""

from __future__ import annotations

from django.db import models

from ally.web.practice.models import Membership


class Schedule(models.Model):
    """How often the member wants to check in on themselves."""

    member = models.OneToOneField(
        Membership, on_delete=models.CASCADE, related_name="self_care_schedule"
    )
    every_days = models.PositiveSmallIntegerField()
    set_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"self-care schedule of member {self.member_id}"


class CheckIn(models.Model):
    """One check-in: the answers, their scores and an optional note, for the member alone."""

    member = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="self_care_check_ins"
    )
    measure_id = models.CharField(max_length=60)
    answered_at = models.DateTimeField()
    answers = models.JSONField()
    total = models.FloatField()
    subscales = models.JSONField()
    note = models.TextField(blank=True)

    class Meta:
        indexes = (models.Index(fields=["member", "answered_at"]),)

    def __str__(self) -> str:
        return f"self-care check-in {self.pk}"
