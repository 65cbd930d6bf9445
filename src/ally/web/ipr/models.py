"""A recorded session, the client's consent to its use, the two reviews and their marks, and
the event the client names (Brief Structured Recall).

The media is a file in the data folder, encrypted with a key of its own (`ally.web.ipr.media`);
that key, the transcript, the client's answers and descriptions are sealed with the client's
data key like their goals, so erasing the client (or losing the key) leaves nothing readable.
Times are seconds from the recording's start; ratings run 1 (hindering) to 9 (helpful).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ally.ipr.marks import RATING_HIGH, RATING_LOW, Kind, Rater
from ally.web.goals.models import Sealed
from ally.web.practice.models import Episode, Membership, Organisation, Session, same_organisation
from ally.web.scoping import Scope, ScopedQuerySet


class ConsentScope(models.TextChoices):
    """What the client allows, each level including the ones before it."""

    REVIEW = "review", _("Review only: my practitioner and I each replay it")
    SUPERVISION = "supervision", _("Review, and my practitioner's supervisor may watch it")
    RESEARCH = (
        "research",
        _("Review, supervision, and research: our marks, without my name, for research"),
    )


CONSENT_ORDER = (ConsentScope.REVIEW, ConsentScope.SUPERVISION, ConsentScope.RESEARCH)


def consent_allows(given: str, needed: str) -> bool:
    """Whether consent `given` ("" for none) covers the use `needed`."""
    if not given:
        return False
    order = [str(c) for c in CONSENT_ORDER]
    return order.index(given) >= order.index(needed)


class Recording(Sealed):
    """A recording of one individual session; `sealed` holds the media's key and the transcript."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="recordings")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="recordings")
    client_id = models.BigIntegerField(editable=False)
    uploaded_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField()
    media_type = models.CharField(max_length=40, help_text="Found from the file's first bytes.")
    size = models.PositiveBigIntegerField(help_text="Bytes of the media, before encryption.")
    file_id = models.CharField(max_length=32, unique=True, editable=False)
    """The encrypted file's name in the data folder's recordings/ (random, names nothing)."""
    media_deleted_at = models.DateTimeField(null=True, blank=True)
    retention_until = models.DateField(
        help_text="The media is deleted after this day; the marks stay."
    )
    link_token = models.CharField(max_length=64, unique=True, editable=False)
    consent = models.CharField(max_length=20, choices=ConsentScope.choices, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    has_transcript = models.BooleanField(default=False)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("episode",))

    class Meta:
        ordering = ("session", "pk")
        constraints = (
            models.CheckConstraint(
                condition=Q(consent="") | Q(consent__in=ConsentScope.values),
                name="recording_consent_known",
            ),
            models.CheckConstraint(
                condition=Q(consent="", consent_at__isnull=True)
                | (~Q(consent="") & Q(consent_at__isnull=False)),
                name="recording_consent_has_time",
            ),
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self, self.episode, self.session)
        super().save(*args, **kwargs)

    def client_id_for_key(self) -> int:
        return self.client_id

    def seal_key(self) -> str:
        return self.file_id

    @property
    def has_media(self) -> bool:
        return self.media_deleted_at is None

    @property
    def is_video(self) -> bool:
        return self.media_type.startswith("video/")

    def allows(self, use: str) -> bool:
        return consent_allows(self.consent, use)

    def __str__(self) -> str:
        return f"recording {self.pk} of session {self.session_id}"


class RecallEvent(Sealed):
    """The event of a session the client names as the most helpful (or hindering), in their
    words (sealed): what happened, and what was going on for them then."""

    recording = models.OneToOneField(Recording, on_delete=models.CASCADE, related_name="event")
    kind = models.CharField(
        max_length=20,
        choices=[
            (Kind.HELPFUL.value, _("Most helpful")),
            (Kind.HINDERING.value, _("Most hindering")),
        ],
    )
    rating = models.PositiveSmallIntegerField()
    named_at = models.DateTimeField()
    client_id = models.BigIntegerField(editable=False)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="recording__organisation", episodes=("recording__episode",))

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=Q(rating__gte=RATING_LOW, rating__lte=RATING_HIGH),
                name="recall_event_rating_1_9",
            ),
        )

    def client_id_for_key(self) -> int:
        return self.client_id

    def seal_key(self) -> str:
        return f"event.{self.recording_id}"

    def __str__(self) -> str:
        return f"named event of recording {self.recording_id}"


class Review(models.Model):
    """One rater's review of a recording: the client's (through their link) or the clinician's.
    Neither sees the other's marks until both are finished."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="reviews")
    rater = models.CharField(max_length=20, choices=[(r.value, r.value) for r in Rater])
    reviewer = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="recording__organisation", episodes=("recording__episode",))

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["recording", "rater"], name="one_review_per_rater"),
        )

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    def __str__(self) -> str:
        return f"{self.rater} review of recording {self.recording_id}"


class Part(models.TextChoices):
    """Where a mark stands: a moment of the whole review, or part of the named event."""

    MOMENT = "", _("A moment that mattered")
    BEGINS = "begins", _("Where the event began")
    PEAK = "peak", _("A peak of the event")
    ENDS = "ends", _("Where the event ended")


RECALL_PROMPTS = ("then", "wanted", "other_saw")
"""The rater's answers at a mark (Kagan's recall questions, in Ally's words): what they were
thinking and feeling then, what they wanted to say or do, how they thought the other saw them."""


class Mark(Sealed):
    """A moment (end = start) or an interval of the recording that mattered to one rater."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="marks")
    start = models.PositiveIntegerField(help_text="Seconds from the recording's start.")
    end = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=[(k.value, k.value) for k in Kind])
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    part = models.CharField(max_length=10, choices=Part.choices, blank=True, default="")
    marked_at = models.DateTimeField()
    key = models.CharField(max_length=32, unique=True, editable=False)
    """A random name that binds the sealed answers to this mark."""
    client_id = models.BigIntegerField(editable=False)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(
        organisation="review__recording__organisation", episodes=("review__recording__episode",)
    )

    class Meta:
        ordering = ("review", "start", "end", "pk")
        constraints = (
            models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="mark_in_order"),
            models.CheckConstraint(
                condition=Q(rating__isnull=True)
                | Q(rating__gte=RATING_LOW, rating__lte=RATING_HIGH),
                name="mark_rating_1_9",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in Kind]), name="mark_kind_known"
            ),
        )

    def client_id_for_key(self) -> int:
        return self.client_id

    def seal_key(self) -> str:
        return self.key

    def __str__(self) -> str:
        return f"mark {self.pk} of review {self.review_id}"


def sealed_rows_of(client_id: int) -> list[Sealed]:
    """Every row sealed with the client's data key here, for key rotation."""
    return [
        *Recording.objects.filter(client_id=client_id),
        *RecallEvent.objects.filter(client_id=client_id),
        *Mark.objects.filter(client_id=client_id),
    ]
