"""The measurement plan of an episode: which measures, by whom, before or after which sessions."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from ally.web.collect.models.choices import Respondent, Timing
from ally.web.practice.models import Episode
from ally.web.scoping import Scope, ScopedQuerySet


class MeasurementPlan(models.Model):
    """An episode's plan; its entries say when each measure is given."""

    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="plan")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))


class PlannedMeasure(models.Model):
    """One measure in a plan, given at sessions first, first + every, ... up to last."""

    plan = models.ForeignKey(MeasurementPlan, on_delete=models.CASCADE, related_name="entries")
    measure_id = models.CharField(max_length=60)
    respondent = models.CharField(
        max_length=20, choices=Respondent.choices, default=Respondent.CLIENT
    )
    timing = models.CharField(max_length=10, choices=Timing.choices)
    first_session = models.PositiveIntegerField(default=1)
    every = models.PositiveIntegerField(default=1, help_text="1: every session; 2: every other.")
    last_session = models.PositiveIntegerField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="plan__episode__organisation", episodes=("plan__episode",))

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=Q(first_session__gte=1, every__gte=1), name="plan_sessions_from_one"
            ),
            models.CheckConstraint(
                condition=Q(last_session__isnull=True) | Q(last_session__gte=F("first_session")),
                name="plan_last_after_first",
            ),
        )

    def applies_to(self, session_number: int) -> bool:
        """Whether this measure is given at the session with this number."""
        if session_number < self.first_session:
            return False
        if self.last_session is not None and session_number > self.last_session:
            return False
        return (session_number - self.first_session) % self.every == 0
