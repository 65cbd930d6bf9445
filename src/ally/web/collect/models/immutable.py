"""Rows that are written once and never changed or deleted: what a client answered stays."""

from __future__ import annotations

from typing import Any

from django.db import models

from ally.web.scoping import ScopedQuerySet


class ImmutableRecordError(Exception):
    """An attempt to change or delete a stored answer; record an amendment instead."""


class ImmutableQuerySet(ScopedQuerySet):
    def update(self, **kwargs: Any) -> int:
        raise ImmutableRecordError(
            f"{self.model.__name__} rows cannot be updated; record an amendment with a reason."
        )

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ImmutableRecordError(f"{self.model.__name__} rows cannot be deleted.")


class Immutable(models.Model):
    """Saved once; a second save or a delete raises ImmutableRecordError."""

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecordError(
                f"{type(self).__name__} {self.pk} is already stored and cannot be changed; "
                "record an amendment with a reason."
            )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ImmutableRecordError(f"{type(self).__name__} {self.pk} cannot be deleted.")
