"""A sponsor of one engagement, and the client's consent to share their progress with it.

The ICF's Code of Ethics separates the sponsor (who pays for or arranges the coaching) from the
client (who is coached): a sponsor sees that sessions take place, and the client's answers only
while the client agrees, for this engagement. The client gives and withdraws consent on their
own page (`ally.web.sponsors.client`); the coach cannot give it for them.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from ally.web.practice.models import Episode
from ally.web.scoping import Scope, ScopedQuerySet


class Sponsorship(models.Model):
    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="sponsorship")
    sponsor = models.CharField(max_length=200, help_text="Who pays, e.g. the client's employer.")
    consent_given_at = models.DateTimeField(null=True, blank=True)
    """When the client agreed that the sponsor sees their progress; None: they have not (or
    withdrew)."""
    recorded_at = models.DateTimeField()

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="episode__organisation", episodes=("episode",))

    def __str__(self) -> str:
        return f"sponsorship of episode {self.episode_id}"

    @property
    def consented(self) -> bool:
        return self.consent_given_at is not None

    def save(self, *args: Any, **kwargs: Any) -> None:
        from ally.web.text import LINE, clean

        self.sponsor = clean(self.sponsor, LINE)
        super().save(*args, **kwargs)
