"""An episode's ending and the forms it sends.

The forms themselves are ordinary administrations, sent by the same links; an `EndingForm` marks
one as the ending's (the final measures, the goals re-rated, the review) or the follow-up's. That
mark is the one deliberate exception to the ended-episode rules (`closed_by_the_ending`): such a
form takes answers after the ending until its own expiry, `Ending.answers_until` or the
follow-up's.

The client's written review answers and the clinician's closing summary are free text about the
client: sealed under the client's data key as goal wordings are (`ally.web.goals.models.Sealed`),
never logged, erased with the client (every row here points at their episode).
"""

from __future__ import annotations

from typing import Any

from django.db import models

from ally.web.collect.models import Administration
from ally.web.goals.models import Sealed
from ally.web.practice.models import Episode, Membership, Organisation, same_organisation
from ally.web.scoping import Scope, ScopedQuerySet

REVIEW = "ally-review"
"""The end-of-therapy review's measure (measures/definitions/ally-review.yaml): item 1, the
overall change, is its score; the written answers are `ReviewWords`."""
REVIEW_QUESTIONS = ("helped", "hindered", "keep_doing")
"""The written answers of the end-of-therapy review (item 1, the overall change, is scored)."""
LONGEST_REVIEW_ANSWER = 2000
LONGEST_SUMMARY = 4000


class Purpose(models.TextChoices):
    FINAL = "final", "Final measure"
    GOALS = "goals", "Goals re-rated"
    REVIEW = "review", "End-of-therapy review"
    FOLLOW_UP = "follow_up", "Follow-up"


ENDING_PURPOSES = (Purpose.FINAL, Purpose.GOALS, Purpose.REVIEW)
"""The forms sent at the ending itself; a follow-up's go out weeks later."""


class Ending(models.Model):
    """How an episode ended beyond its date and reason: who recorded it, until when its forms
    take answers, and whether the client was told that the practice noticed they stopped."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="ending")
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answers_until = models.DateTimeField(
        null=True, blank=True, help_text="The ending's forms take answers until then."
    )
    stopped_message_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the client was told the practice noticed they stopped (off by default).",
    )

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("episode",))

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self, self.episode)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"ending of episode {self.episode_id}"


class FollowUp(models.Model):
    """A follow-up check chosen at the ending: these measures, so many weeks after the last day.
    Its forms are made and sent by the due-links job once `due_at` has come."""

    ending = models.OneToOneField(Ending, on_delete=models.CASCADE, related_name="follow_up")
    measure_ids = models.JSONField(help_text='The measures to ask, e.g. ["phq9"].')
    weeks = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    answers_until = models.DateTimeField()
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When its forms were made and handed to the link job."
    )

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="ending__organisation", episodes=("ending__episode",))

    class Meta:
        constraints = (
            models.CheckConstraint(condition=models.Q(weeks__gte=1), name="follow_up_weeks"),
        )

    def __str__(self) -> str:
        return f"follow-up of episode {self.ending.episode_id}"


class EndingForm(models.Model):
    """An administration sent because of the ending: it may take answers after it."""

    ending = models.ForeignKey(Ending, on_delete=models.CASCADE, related_name="forms")
    administration = models.OneToOneField(
        Administration, on_delete=models.PROTECT, related_name="ending_form"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="ending__organisation", episodes=("ending__episode",))

    def __str__(self) -> str:
        return f"{self.purpose} form {self.administration_id} of episode {self.ending.episode_id}"


class ReviewWords(Sealed):
    """The client's written answers to the end-of-therapy review, sealed (`REVIEW_QUESTIONS`);
    stored with the review's response, once."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    administration = models.OneToOneField(
        Administration, on_delete=models.PROTECT, related_name="review_words"
    )
    written_at = models.DateTimeField()
    client_id = models.BigIntegerField(editable=False)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(
        organisation="organisation", episodes=("administration__episode",), identifying=True
    )

    def client_id_for_key(self) -> int:
        return self.client_id

    def seal_key(self) -> str:
        return str(self.administration_id)

    def __str__(self) -> str:
        # Never the words: objects end up in logs and error pages.
        return f"review words of form {self.administration_id}"


class ClosingSummary(Sealed):
    """The clinician's closing summary of an episode; rewriting it adds a version, the latest
    in force, so what was shared earlier can still be told."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="closing_summaries")
    version = models.PositiveSmallIntegerField()
    written_at = models.DateTimeField()
    written_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    client_id = models.BigIntegerField(editable=False)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("episode",), identifying=True)

    class Meta:
        ordering = ("episode", "version")
        constraints = (
            models.UniqueConstraint(fields=["episode", "version"], name="closing_summary_unique"),
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self, self.episode)
        super().save(*args, **kwargs)

    def client_id_for_key(self) -> int:
        return self.client_id

    def seal_key(self) -> str:
        return f"{self.episode_id}.{self.version}"

    @property
    def text(self) -> str:
        return self.words()["text"]

    def __str__(self) -> str:
        return f"closing summary {self.version} of episode {self.episode_id}"


def sealed_rows_of(client_id: int) -> list[Sealed]:
    """Every row sealed with the client's data key here, for key rotation."""
    return [
        *ReviewWords.objects.filter(client_id=client_id),
        *ClosingSummary.objects.filter(client_id=client_id),
    ]
