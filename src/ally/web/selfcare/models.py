"""A member's self-care check-ins and the schedule they chose. No `scope`: see the package.

A member's answers and notes are their own words about themselves: sealed under the server's
master key (as their authenticator secret is), not a client's data key, for members are not
clients and have no key of their own; a copy of the database alone shows the scores only."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from django.db import models

from ally.web.practice.models import Membership
from ally.web.privacy.keys import master_keys
from ally.web.privacy.sealed import context, seal, secret_frames, unseal

SEALED = ("answers", "note")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def where_sealed(member_id: int, answered_at: dt.datetime, version: int) -> bytes:
    """The associated data of a check-in's sealed answers: the member and the moment (in whole
    microseconds, the row's place before it is stored) and the master key's version."""
    moment = (answered_at - EPOCH) // dt.timedelta(microseconds=1)
    return context("selfcare_checkin", SEALED, f"{member_id}@{moment}", version)


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
    """One check-in: the answers, their scores and an optional note, for the member alone.

    The answers and the note are sealed together under the server's newest master key, bound to
    the member and the moment (`seal_answers`); read them with `answers` and `note`. The
    scores stay plain for the practice's aggregate of five or more members."""

    member = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="self_care_check_ins"
    )
    measure_id = models.CharField(max_length=60)
    answered_at = models.DateTimeField()
    total = models.FloatField()
    subscales = models.JSONField()
    sealed = models.BinaryField(editable=False, help_text="The answers and the note, sealed.")
    master_version = models.PositiveIntegerField(
        help_text="The master key the answers and note are sealed under."
    )

    class Meta:
        indexes = (models.Index(fields=["member", "answered_at"]),)

    _opened: dict[str, Any] | None = None

    @secret_frames
    def seal_answers(self, answers: Sequence[float | None], note: str) -> None:
        """Seal the answers and the note under the newest master key; saving stores them."""
        master = master_keys().newest
        plain = json.dumps({"answers": list(answers), "note": note}, separators=(",", ":"))
        self.sealed = seal(plain.encode(), master.material, self._where(master.version))
        self.master_version = master.version
        self._opened = {"answers": list(answers), "note": note}

    def _where(self, version: int) -> bytes:
        return where_sealed(self.member_id, self.answered_at, version)

    @secret_frames
    def _open(self) -> dict[str, Any]:
        if self._opened is None:
            master = master_keys().get(self.master_version)
            plain = unseal(bytes(self.sealed), master.material, self._where(master.version))
            self._opened = json.loads(plain)
        return self._opened

    @property
    def answers(self) -> list[float | None]:
        return list(self._open()["answers"])

    @property
    def note(self) -> str:
        return str(self._open()["note"])

    @secret_frames
    def seal_again(self) -> None:
        """Seal the opened answers and note under the newest master key (key rotation)."""
        opened = self._open()
        self.seal_answers(opened["answers"], opened["note"])

    def __str__(self) -> str:
        return f"self-care check-in {self.pk}"
