"""Goals and the ideal-life exercise. Their words are the client's, so they are sealed at rest
with the client's data key (as names are, `ally.web.privacy.sealed`), never logged, and erased
with the client (their data key goes, and the rows point at the episode).

A goal's wording is never changed in place: each wording is a row with its time and author, so
the history of a goal is the list of its wordings, the latest in force.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from ally.web.practice.models import Episode, Membership, Organisation, same_organisation
from ally.web.privacy.sealed import context, seal, secret_frames, unseal
from ally.web.scoping import Scope, ScopedQuerySet

MOST_GOALS = 5
"""Goals per episode (ally.change.goals.GOALS: the goal-progress measure has five items)."""
LONGEST_GOAL = 300
"""Characters of one goal's wording: a sentence or two in the client's words."""
LONGEST_ANSWER = 1000
"""Characters of one answer of the ideal-life exercise."""
EXERCISE_QUESTIONS = ("different", "first_signs", "who_notices", "good_enough")
"""The written answers of the ideal-life exercise; where the client is now (0-10) is a number."""


class Sealed(models.Model):
    """A row whose client words are sealed together in `sealed`, bound to the table, the row's
    `key` (its place, known before it is stored) and the client's data key generation."""

    sealed = models.BinaryField(editable=False)

    class Meta:
        abstract = True

    _opened: dict[str, str] | None = None

    def client_id_for_key(self) -> int:
        raise NotImplementedError

    def seal_key(self) -> str:
        raise NotImplementedError

    def _data_key(self) -> Any:
        from ally.web.privacy.keys import data_key_for

        return data_key_for(self.client_id_for_key(), create=True)

    @secret_frames
    def seal_words(self, words: dict[str, str], key: Any = None) -> None:
        """Seal `words` (plain text by field) under the client's data key (or `key`)."""
        key = key or self._data_key()
        names = sorted(words)
        plain = json.dumps({n: words[n] for n in names}, separators=(",", ":")).encode()
        where = context(self._meta.db_table, ("words",), self.seal_key(), key.generation)
        self.sealed = seal(plain, key.material, where)
        self._opened = dict(words)

    @secret_frames
    def words(self, key: Any = None) -> dict[str, str]:
        """The client's words, opened once per instance (with `key`, the client's data key,
        when the caller holds it for many rows)."""
        if self._opened is None:
            from ally.web.privacy.keys import data_key_for

            key = key or data_key_for(self.client_id_for_key())
            where = context(self._meta.db_table, ("words",), self.seal_key(), key.generation)
            opened = json.loads(unseal(bytes(self.sealed), key.material, where))
            self._opened = {str(k): str(v) for k, v in opened.items()}
        return self._opened


class Goal(models.Model):
    """One of the client's goals in an episode, numbered 1 to 5 (the goal-progress and GAS
    items of the same number)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="goals")
    number = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    weight = models.FloatField(
        null=True, blank=True, help_text="The goal's weight in the GAS T-score; empty: 1."
    )

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("episode",))

    class Meta:
        ordering = ("episode", "number")
        constraints = (
            models.UniqueConstraint(fields=["episode", "number"], name="goal_number_unique"),
            models.CheckConstraint(
                condition=models.Q(number__gte=1, number__lte=MOST_GOALS), name="goal_number_1_5"
            ),
            models.CheckConstraint(
                condition=models.Q(weight__isnull=True) | models.Q(weight__gte=0),
                name="goal_weight_not_negative",
            ),
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self, self.episode)
        super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def __str__(self) -> str:
        # Never the wording: objects end up in logs and error pages.
        return f"goal {self.number} of episode {self.episode_id}"


class GoalWording(Sealed):
    """One wording of a goal, in the client's words, with when and by whom it was written
    (`written_by` empty: the client, through their link)."""

    goal = models.ForeignKey(Goal, on_delete=models.CASCADE, related_name="wordings")
    version = models.PositiveSmallIntegerField()
    written_at = models.DateTimeField()
    written_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    client_id = models.BigIntegerField(editable=False)
    """The client whose data key seals the words (kept so that opening needs no join)."""

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="goal__organisation", episodes=("goal__episode",), identifying=True)

    class Meta:
        ordering = ("goal", "version")
        constraints = (
            models.UniqueConstraint(fields=["goal", "version"], name="goal_wording_unique"),
        )

    def client_id_for_key(self) -> int:
        return self.client_id

    def seal_key(self) -> str:
        return f"{self.goal_id}.{self.version}"

    @property
    def text(self) -> str:
        return self.words()["text"]

    def __str__(self) -> str:
        return f"wording {self.version} of goal {self.goal_id}"


class GoalExercise(Sealed):
    """The ideal-life exercise as answered once: what would be different, the first small
    signs, who would notice, what would be good enough (sealed), and where the client is now."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="goal_exercises")
    version = models.PositiveSmallIntegerField()
    now = models.PositiveSmallIntegerField(null=True, blank=True)
    """Where the client is now, 0 to 10."""
    written_at = models.DateTimeField()
    written_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    client_id = models.BigIntegerField(editable=False)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("episode",), identifying=True)

    class Meta:
        ordering = ("episode", "version")
        constraints = (
            models.UniqueConstraint(fields=["episode", "version"], name="goal_exercise_unique"),
            models.CheckConstraint(
                condition=models.Q(now__isnull=True) | models.Q(now__lte=10),
                name="goal_exercise_now_0_10",
            ),
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self, self.episode)
        super().save(*args, **kwargs)

    def client_id_for_key(self) -> int:
        return self.client_id

    def seal_key(self) -> str:
        return f"{self.episode_id}.{self.version}"

    def __str__(self) -> str:
        return f"goal exercise {self.version} of episode {self.episode_id}"


def sealed_rows_of(client_id: int) -> list[Sealed]:
    """Every row sealed with the client's data key here, for key rotation."""
    return [
        *GoalWording.objects.filter(client_id=client_id),
        *GoalExercise.objects.filter(client_id=client_id),
    ]
