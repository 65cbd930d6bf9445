"""An administration: one measure given once, from creation to an answer or expiry.

Each state has its own timestamp, so both when a questionnaire was presented (opened) and when it
was answered (completed) are known.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ally.web.collect.models.choices import Respondent, Timing
from ally.web.collect.models.plans import PlannedMeasure
from ally.web.practice.models import Episode, Session
from ally.web.scoping import Scope, ScopedQuerySet


class AdministrationStatus(models.TextChoices):
    CREATED = "created", "Created"
    SENT = "sent", "Sent"
    OPENED = "opened", "Opened"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Expired"


OPEN_STATUSES = frozenset(
    {AdministrationStatus.CREATED, AdministrationStatus.SENT, AdministrationStatus.OPENED}
)


def new_link_token() -> str:
    return secrets.token_urlsafe(32)


class Administration(models.Model):
    """One measure, in one version, to be answered once by one respondent."""

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="administrations")
    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, related_name="administrations", null=True, blank=True
    )
    planned = models.ForeignKey(
        PlannedMeasure,
        on_delete=models.SET_NULL,
        related_name="administrations",
        null=True,
        blank=True,
    )
    measure_id = models.CharField(max_length=60)
    measure_version = models.CharField(max_length=40)
    respondent = models.CharField(
        max_length=20, choices=Respondent.choices, default=Respondent.CLIENT
    )
    timing = models.CharField(max_length=10, choices=Timing.choices, blank=True)
    status = models.CharField(
        max_length=20, choices=AdministrationStatus.choices, default=AdministrationStatus.CREATED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(
        null=True, blank=True, help_text="When the questions were first presented."
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="After this moment no answer is accepted."
    )
    link_token = models.CharField(
        max_length=64,
        unique=True,
        default=new_link_token,
        help_text="Secret for the client's link; identifies nothing by itself.",
    )

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=Q(status__in=AdministrationStatus.values),
                name="administration_status_known",
            ),
            models.CheckConstraint(
                condition=~Q(status=AdministrationStatus.COMPLETED) | Q(completed_at__isnull=False),
                name="completed_has_timestamp",
            ),
            models.CheckConstraint(
                condition=~Q(status=AdministrationStatus.EXPIRED) | Q(expired_at__isnull=False),
                name="expired_has_timestamp",
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True) | Q(expired_at__isnull=True),
                name="completed_or_expired_not_both",
            ),
        )
        indexes = (models.Index(fields=["episode", "status"]),)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def is_past_expiry(self, now: datetime) -> bool:
        """Whether its time ran out, even if no job has marked it expired yet."""
        return self.expires_at is not None and self.expires_at <= now

    @property
    def opens_at(self) -> datetime | None:
        """When it starts to take answers: an after-session form when its session starts (the
        client rates the session they had), any other at once (None)."""
        if self.timing == Timing.AFTER and self.session_id is not None:
            return self.session.scheduled_at
        return None

    def is_not_yet_open(self, now: datetime) -> bool:
        opens = self.opens_at
        return opens is not None and opens > now

    def takes_answers(self, now: datetime) -> bool:
        """Open, not past its expiry, and (after a session) its session has started: the one
        rule for whether an answer is accepted (`taking_answers` is the same rule as a query)."""
        return self.is_open and not self.is_past_expiry(now) and not self.is_not_yet_open(now)

    def __str__(self) -> str:
        return f"{self.measure_id} {self.measure_version} ({self.status})"


def past_expiry(now: datetime) -> Q:
    """`Administration.is_past_expiry` as a query: its time ran out at or before `now`."""
    return Q(expires_at__lte=now)


def not_yet_open(now: datetime) -> Q:
    """`Administration.is_not_yet_open` as a query: an after-session form before its session."""
    return Q(timing=Timing.AFTER, session__scheduled_at__gt=now)


def taking_answers(now: datetime) -> Q:
    """`Administration.takes_answers` as a query."""
    return Q(status__in=sorted(OPEN_STATUSES)) & ~past_expiry(now) & ~not_yet_open(now)


# After the ending ---------------------------------------------------------------------------------


def answers_close_at(episode: Episode) -> datetime | None:
    """When an ended episode stops taking answers: ALLY_ENDED_GRACE_HOURS after the end of its
    last day (local time), so a client still answers the last session's final measures that
    evening or the days after; None while the episode is open."""
    if episode.ended_on is None:
        return None
    day_after = datetime.combine(episode.ended_on + timedelta(days=1), time.min)
    return timezone.make_aware(day_after) + timedelta(hours=settings.ALLY_ENDED_GRACE_HOURS)


def after_the_end(administration: Administration) -> bool:
    """A form of a session held after the episode's last day: never answered, whatever the
    grace (sessions booked ahead and then cancelled by the ending)."""
    ended = administration.episode.ended_on
    session = administration.session
    return (
        ended is not None
        and session is not None
        and timezone.localdate(session.scheduled_at) > ended
    )


def sent_by_the_ending(administration: Administration) -> bool:
    """A planned ending's final measures and review, or a follow-up check (`ally.web.endings`):
    the deliberate exception, answered after the ending until their own expiry."""
    return Administration.objects.filter(pk=administration.pk, ending_form__isnull=False).exists()


def closed_by_the_ending(administration: Administration, now: datetime) -> bool:
    """The one rule for answers after an ending: refused for a later session's form, and for
    any form once the grace after the last day has run out, except the forms the ending sent
    (`sent_by_the_ending`), which close at their own expiry."""
    closes = answers_close_at(administration.episode)
    if closes is None or not (after_the_end(administration) or now >= closes):
        return False
    return not sent_by_the_ending(administration)
