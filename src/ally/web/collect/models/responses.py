"""Responses: the answers as given and their score, stored once. Corrections are amendments.

The item answers are the client's own: they are sealed with AES-GCM under the client's data key
(`ally.web.privacy.sealed`), bound to the table and the row's place, and read through `answers`
alone. The scores stay in plain columns: the caseload, the feedback refresh and SQL aggregation
read them (docs/security.md, section 2.1). Erasing the client destroys the key.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from django.db import models
from django.db.models import Q

from ally.web.collect.models.administrations import Administration
from ally.web.collect.models.immutable import Immutable, ImmutableRecordError
from ally.web.practice.models import Membership
from ally.web.privacy.keys import DataKey, data_key_for
from ally.web.privacy.sealed import context, seal, secret_frames, unseal
from ally.web.scoping import Scope

StoredAnswers = dict[str, float | None]
"""Answers by item number as text: {"1": 2, "2": None, ...}."""

SEALED_COLUMNS = ("answers",)
REASON_COLUMNS = ("reason",)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@secret_frames
def seal_answers(
    answers: Mapping[str, float | None], key: DataKey, table: str, place: str
) -> bytes:
    """The item answers sealed under the client's data key, bound to their table and place."""
    plain = json.dumps(dict(answers), separators=(",", ":")).encode()
    return seal(plain, key.material, context(table, SEALED_COLUMNS, place, key.generation))


@secret_frames
def opened_answers(sealed: bytes, key: DataKey, table: str, place: str) -> StoredAnswers:
    """The item answers of a sealed value; SealError when it does not belong to this place.

    The one way to read stored answers: the models' `answers` and the readers of plain values
    (`ally.web.monitoring.refresh.answers_of`) come here."""
    where = context(table, SEALED_COLUMNS, place, key.generation)
    opened = json.loads(unseal(bytes(sealed), key.material, where))
    return {str(number): value for number, value in opened.items()}


class ScoredAnswers(Immutable):
    """Answers by item number, sealed, with the score `ally.scoring.score` gave them.

    Give `answers` as a keyword of `create` (or set it before the first save); the save seals
    them under the client's data key. Read them with `answers` (one row) or `open_answers`
    (many rows, with a `privacy.keys.KeyRing`'s key)."""

    sealed = models.BinaryField(
        editable=False, help_text="The item answers, sealed under the client's data key."
    )
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

    _answers: StoredAnswers | None = None

    def client_id_for_key(self) -> int:
        """The client whose data key seals the answers."""
        raise NotImplementedError

    def seal_place(self) -> str:
        """The row's place in the associated data, known before the row is stored."""
        raise NotImplementedError

    @property
    def answers(self) -> StoredAnswers:
        """The item answers, opened once per instance with the client's data key."""
        if self._answers is None:
            return self.open_answers(data_key_for(self.client_id_for_key()))
        return self._answers

    @answers.setter
    def answers(self, value: Mapping[str, float | None]) -> None:
        if not self._state.adding:
            raise ImmutableRecordError(
                f"{type(self).__name__} {self.pk} is already stored; its answers cannot be "
                "changed. Record an amendment with a reason."
            )
        self._answers = {str(number): answer for number, answer in value.items()}

    def open_answers(self, key: DataKey) -> StoredAnswers:
        """The item answers opened with `key`, the client's data key (once per instance)."""
        if self._answers is None:
            self._answers = opened_answers(self.sealed, key, self._meta.db_table, self.seal_place())
        return self._answers

    def seal_with(self, key: DataKey) -> None:
        """Seal what the row holds in the clear under `key`, the client's data key."""
        if self._answers is None:
            raise ValueError(f"A new {type(self).__name__} needs its answers.")
        self.sealed = seal_answers(self._answers, key, self._meta.db_table, self.seal_place())

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            # Locked with the row about to be stored: a renewal of the client's data key waits.
            self.seal_with(data_key_for(self.client_id_for_key(), create=True, lock=True))
        super().save(*args, **kwargs)


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

    @staticmethod
    def place_of(administration_id: int) -> str:
        return str(administration_id)

    def client_id_for_key(self) -> int:
        return int(self.administration.episode.client_id)

    def seal_place(self) -> str:
        return self.place_of(self.administration_id)

    def current(self) -> ScoredAnswers:
        """The answers in force: the latest amendment, or the response itself."""
        latest = self.amendments.order_by("-amended_at", "-pk").first()
        return latest if latest is not None else self

    def __str__(self) -> str:
        return f"response {self.pk} to administration {self.administration_id}"


class Amendment(ScoredAnswers):
    """A correction of a response, with who made it and why; the original stays as it was.

    The reason is the member's words about the client's answers: sealed beside them under the
    client's data key (`sealed_reason`), read with `reason` or `open_reason`."""

    response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="amendments")
    sealed_reason = models.BinaryField(
        editable=False, help_text="Why the answers were corrected, sealed as the answers are."
    )
    amended_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="amendments_made"
    )
    amended_at = models.DateTimeField()

    scope = Scope(
        organisation="response__administration__episode__organisation",
        episodes=("response__administration__episode",),
    )

    _reason: str | None = None

    @staticmethod
    def place_of(response_id: int, amended_at: dt.datetime) -> str:
        # The response and the moment, in whole microseconds (no time zone's spelling in it).
        return f"{response_id}@{(amended_at - EPOCH) // dt.timedelta(microseconds=1)}"

    def client_id_for_key(self) -> int:
        return int(self.response.administration.episode.client_id)

    def seal_place(self) -> str:
        return self.place_of(self.response_id, self.amended_at)

    @property
    def reason(self) -> str:
        """Why the answers were corrected, opened once per instance."""
        if self._reason is None:
            return self.open_reason(data_key_for(self.client_id_for_key()))
        return self._reason

    @reason.setter
    def reason(self, value: str) -> None:
        if not self._state.adding:
            raise ImmutableRecordError(f"Amendment {self.pk} is already stored.")
        self._reason = value

    def open_reason(self, key: DataKey) -> str:
        if self._reason is None:
            where = context(self._meta.db_table, REASON_COLUMNS, self.seal_place(), key.generation)
            self._reason = unseal(bytes(self.sealed_reason), key.material, where).decode()
        return self._reason

    @secret_frames
    def seal_with(self, key: DataKey) -> None:
        super().seal_with(key)
        if not self._reason:
            raise ValueError("A correction needs its reason.")
        where = context(self._meta.db_table, REASON_COLUMNS, self.seal_place(), key.generation)
        self.sealed_reason = seal(self._reason.encode(), key.material, where)


def answer_rows_of(client_id: int) -> list[ScoredAnswers]:
    """Every response and amendment of the client, for key rotation."""
    return [
        *Response.objects.filter(administration__episode__client_id=client_id).select_related(
            "administration__episode"
        ),
        *Amendment.objects.filter(
            response__administration__episode__client_id=client_id
        ).select_related("response__administration__episode"),
    ]


@secret_frames
def reseal_answers(row: ScoredAnswers, old: DataKey, new: DataKey) -> None:
    """Seal a stored row's answers (and a correction's reason) again under the client's new
    data key: the one change a stored answer takes, made by key rotation through a plain
    queryset, past Immutable's."""
    row.open_answers(old)
    if isinstance(row, Amendment):
        row.open_reason(old)
    row.seal_with(new)
    fields = {"sealed": row.sealed}
    if isinstance(row, Amendment):
        fields["sealed_reason"] = row.sealed_reason
    models.QuerySet(type(row)).filter(pk=row.pk).update(**fields)
