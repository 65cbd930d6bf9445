"""An alert: raised, seen, acted on with a note, each with its timestamp and its member."""

from __future__ import annotations

import base64

from django.db import models
from django.db.models import Case, IntegerField, Q, Value, When

from ally.web.collect.models import Amendment, Response
from ally.web.practice.models import Episode, Membership
from ally.web.scoping import Scope, ScopedQuerySet


class AlertKind(models.TextChoices):
    CRITICAL_ITEM = "critical_item", "Critical item endorsed"
    CRITICAL_UNANSWERED = "critical_unanswered", "Critical item left unanswered"
    SIGNAL_RED = "signal_red", "Not on track (red signal)"
    RUPTURE = "rupture", "Alliance rupture"
    DROPOUT_RISK = "dropout_risk", "High dropout risk"


FEEDBACK_KINDS = frozenset({AlertKind.SIGNAL_RED, AlertKind.RUPTURE, AlertKind.DROPOUT_RISK})
"""Alerts raised from the practice model's results rather than from a single response."""

SEVERITY: tuple[str, ...] = tuple(
    str(kind)
    for kind in (
        AlertKind.CRITICAL_ITEM,
        AlertKind.CRITICAL_UNANSWERED,
        AlertKind.SIGNAL_RED,
        AlertKind.RUPTURE,
        AlertKind.DROPOUT_RISK,
    )
)
"""The order alerts are shown in: a risk to the client's safety before anything else, then the
caseload's order (docs/screens.md)."""


def most_severe_first() -> Case:
    """An ordering expression: the alert's place in SEVERITY."""
    return Case(
        *(When(kind=kind, then=Value(rank)) for rank, kind in enumerate(SEVERITY)),
        default=Value(len(SEVERITY)),
        output_field=IntegerField(),
    )


class Alert(models.Model):
    """Something a clinician must see about an episode, such as a self-harm item endorsed."""

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="alerts")
    response = models.ForeignKey(
        Response, on_delete=models.PROTECT, related_name="alerts", null=True, blank=True
    )
    amendment = models.ForeignKey(
        Amendment, on_delete=models.PROTECT, related_name="alerts", null=True, blank=True
    )
    kind = models.CharField(max_length=40, choices=AlertKind.choices)
    item = models.PositiveIntegerField(null=True, blank=True)
    raises = models.CharField(max_length=60, blank=True, help_text="e.g. self_harm")
    message = models.TextField()
    raised_at = models.DateTimeField()
    seen_at = models.DateTimeField(null=True, blank=True)
    seen_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    acted_at = models.DateTimeField(null=True, blank=True)
    acted_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    # What was done, sealed under the client's data key (`seal_note`); read it with `note`.
    action_note = models.TextField(blank=True)
    source_key = models.CharField(
        max_length=120,
        blank=True,
        help_text="For feedback alerts: measure, rater and session, so a refresh raises it once.",
    )
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the alert is about (measure, session, subscale, risk): its text is "
        "written from these in the reader's language.",
    )

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=Q(seen_at__isnull=True) | Q(seen_by__isnull=False),
                name="alert_seen_by_someone",
            ),
            models.CheckConstraint(
                condition=Q(acted_at__isnull=True)
                | Q(acted_by__isnull=False, seen_at__isnull=False) & ~Q(action_note=""),
                name="alert_acted_on_with_note",
            ),
            models.UniqueConstraint(
                fields=["episode", "kind", "source_key"],
                condition=~Q(source_key=""),
                name="feedback_alert_once",
            ),
        )
        indexes = (models.Index(fields=["episode", "acted_at"]),)

    @property
    def note(self) -> str:
        """What was done, opened with the client's data key ("" once the client is erased)."""
        return open_note(self)

    @property
    def text(self) -> str:
        """What the alert says, in the reader's language (`message` keeps the English)."""
        from ally.web.alerts.texts import alert_text

        return alert_text(self.kind, self.details, self.item) or self.message

    @property
    def state(self) -> str:
        if self.acted_at is not None:
            return "acted_on"
        return "seen" if self.seen_at is not None else "raised"


class SupportCheck(models.Model):
    """A support check sent to a client who went off track, or sent by hand: which off-track
    spell it belongs to, so that one spell gets one check (docs/feedback.md)."""

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="support_checks")
    administration = models.OneToOneField(
        "collect.Administration", on_delete=models.PROTECT, related_name="support_check"
    )
    spell_started = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The session at which the off-track spell began; empty when sent by hand "
        "while the client was on track.",
    )
    requested_at = models.DateTimeField()
    requested_by = models.ForeignKey(
        Membership,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Empty when sent because the signal turned yellow or red.",
    )

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))

    class Meta:
        indexes = (models.Index(fields=["episode", "spell_started"]),)


class UsedSuggestion(models.Model):
    """One suggestion of the decision support that a clinician used, for an alert or, for a
    yellow signal that raises none, for the episode."""

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="used_suggestions")
    alert = models.ForeignKey(
        Alert, on_delete=models.PROTECT, related_name="used_suggestions", null=True, blank=True
    )
    guidance = models.CharField(max_length=40, help_text="e.g. not_on_track")
    step = models.CharField(max_length=40, help_text="The suggestion's key, e.g. social_support")
    position = models.PositiveSmallIntegerField(
        help_text="Its place (1 = first) in the list as the clinician saw it."
    )
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=["alert", "step"],
                condition=Q(alert__isnull=False),
                name="suggestion_used_once_per_alert",
            ),
        )
        indexes = (models.Index(fields=["episode", "recorded_at"]),)


# Action notes at rest ----------------------------------------------------------------------------

SEALED_NOTE = "s1"
"""Prefix of a sealed action note: "s1:<data key generation>:<base64>"."""


def _note_context(alert_id: int, generation: int) -> bytes:
    from ally.web.privacy.sealed import context

    return context("alerts_alert", ("action_note",), alert_id, generation)


def seal_note(alert: Alert, text: str) -> str:
    """The free-text note of what was done, sealed with AES-GCM under the client's data key and
    bound to its alert, as the client's name is (privacy/sealed.py)."""
    from ally.web.privacy.keys import data_key_for
    from ally.web.privacy.sealed import seal

    key = data_key_for(alert.episode.client_id, create=True)
    sealed = seal(text.encode(), key.material, _note_context(alert.pk, key.generation))
    return f"{SEALED_NOTE}:{key.generation}:{base64.b64encode(sealed).decode('ascii')}"


def open_note(alert: Alert) -> str:
    """The note in the clear: sealed by Ally, or as an older Ally stored it."""
    from ally.web.privacy.keys import KeyUnavailableError, data_key_for
    from ally.web.privacy.sealed import SealError, unseal

    stored = alert.action_note
    prefix, _, rest = stored.partition(":")
    if prefix != SEALED_NOTE:
        return stored
    generation, _, encoded = rest.partition(":")
    try:
        key = data_key_for(alert.episode.client_id)
        plain = unseal(
            base64.b64decode(encoded), key.material, _note_context(alert.pk, int(generation))
        )
    except (KeyUnavailableError, SealError, ValueError):
        return ""
    return plain.decode()
