"""An organisation (a practice) and its members, each with one role."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from ally.web.scoping import Role, Scope, ScopedQuerySet
from ally.web.validation import practice_name


class CrossOrganisationError(ValueError):
    """Two linked rows belong to different organisations; nothing was saved."""


def same_organisation(owner: Any, *linked: Any) -> None:
    """Refuse a link between rows of different organisations (every row has `organisation_id`)."""
    for other in linked:
        if other is not None and other.organisation_id != owner.organisation_id:
            raise CrossOrganisationError(
                f"{type(owner).__name__} and {type(other).__name__} belong to different "
                "organisations; link rows of the same practice only."
            )


class Organisation(models.Model):
    """A practice, clinic or service: the boundary no query crosses."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    crisis_contacts = models.TextField(
        blank=True,
        help_text="Shown to a client at once when they endorse a critical item: whom to call now.",
    )
    erasure_policy = models.TextField(
        blank=True,
        help_text="How the practice answers requests for erasure: what it must keep, on which "
        "ground (GDPR Art. 17(3)) and for how long. Shown to administrators when they decide.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="pk", caseload=False)

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The name is typed in `ally manage shell` (docs/deploy.md), where no form checks it.
        fields = kwargs.get("update_fields")
        if fields is None or "name" in fields:
            self.name = practice_name(self.name)
        super().save(*args, **kwargs)


class Membership(models.Model):
    """A user's place in one organisation: the role decides what they see there."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", caseload=False)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["user", "organisation"], name="one_membership_per_org"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_known"
            ),
        )

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.organisation}"
