"""Responses: the answers as given and their score, stored once. Corrections are amendments."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ally.web.collect.models.administrations import Administration
from ally.web.collect.models.immutable import Immutable
from ally.web.practice.models import Membership
from ally.web.scoping import Scope


class ScoredAnswers(Immutable):
    """Answers by item number, with the score `ally.scoring.score` gave them."""

    answers = models.JSONField(help_text='By item number: {"1": 2, "2": null, ...}.')
    measure_id = models.CharField(max_length=60)
    measure_version = models.CharField(max_length=40)
    total = models.FloatField()
    subscales = models.JSONField(default=dict)
    band = models.CharField(max_length=60, blank=True)
    answered = models.PositiveIntegerField()
    prorated = models.BooleanField(default=False)
    critical = models.BooleanField(
        null=True, help_text="True: a critical item endorsed; None: one left unanswered."
    )

    class Meta:
        abstract = True


class Response(ScoredAnswers):
    """The one completed answer set of an administration; never edited."""

    administration = models.OneToOneField(
        Administration, on_delete=models.PROTECT, related_name="response"
    )
    idempotency_key = models.CharField(
        max_length=100,
        unique=True,
        help_text="Chosen by the submitting device; a repeated submission returns this response.",
    )
    entered_by = models.ForeignKey(
        Membership,
        on_delete=models.PROTECT,
        related_name="responses_entered",
        null=True,
        blank=True,
        help_text="The member who typed the answers in; empty when the respondent did.",
    )
    recorded_at = models.DateTimeField()

    scope = Scope(
        organisation="administration__episode__organisation",
        episodes=("administration__episode",),
    )

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=~Q(idempotency_key=""), name="response_idempotency_key_given"
            ),
        )

    def current(self) -> ScoredAnswers:
        """The answers in force: the latest amendment, or the response itself."""
        latest = self.amendments.order_by("-amended_at", "-pk").first()
        return latest if latest is not None else self

    def __str__(self) -> str:
        return f"response {self.pk} to administration {self.administration_id}"


class Amendment(ScoredAnswers):
    """A correction of a response, with who made it and why; the original stays as it was."""

    response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="amendments")
    reason = models.TextField()
    amended_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="amendments_made"
    )
    amended_at = models.DateTimeField()

    scope = Scope(
        organisation="response__administration__episode__organisation",
        episodes=("response__administration__episode",),
    )

    class Meta:
        constraints = (
            models.CheckConstraint(condition=~Q(reason=""), name="amendment_has_reason"),
        )
