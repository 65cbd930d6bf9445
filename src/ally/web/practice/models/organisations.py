"""An organisation (a practice) and its members, each with one role."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

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


class PracticeKind(models.TextChoices):
    """What a practice does: its words follow (`ally.web.vocabulary`)."""

    THERAPY = "therapy", _("Therapy or counselling")
    COACHING = "coaching", _("Coaching")


class ClientWord(models.TextChoices):
    """What a coaching practice calls the people it coaches (the ICF says client; research
    says coachee)."""

    CLIENT = "client", _("client")
    COACHEE = "coachee", _("coachee")


class Organisation(models.Model):
    """A practice, clinic or service: the boundary no query crosses."""

    name = models.CharField(max_length=200)
    kind = models.CharField(
        max_length=20, choices=PracticeKind.choices, default=PracticeKind.THERAPY
    )
    client_word = models.CharField(
        max_length=20,
        choices=ClientWord.choices,
        default=ClientWord.CLIENT,
        help_text="A coaching practice's word for the people it coaches.",
    )
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
    offers = models.TextField(
        blank=True,
        help_text="The public page: what the practice offers, in its own words.",
    )
    feedback_and_data = models.TextField(
        blank=True,
        help_text="The public page: how the practice uses feedback and protects data (Ally's "
        "own account of it when empty).",
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
    profile = models.TextField(
        blank=True, help_text="The member's short profile on the practice's public page."
    )
    on_public_page = models.BooleanField(
        default=False, help_text="Whether the member is named on the practice's public page."
    )
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


class Invitation(models.Model):
    """An administrator's invitation to join the practice with a role: the invitee opens the
    signed link in the email (`ally.web.accounts.invitations`), sets a password and a second
    factor. Used once; it expires."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    invited_by = models.ForeignKey(
        Membership, on_delete=models.SET_NULL, null=True, related_name="invitations_sent"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", caseload=False)

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="invitation_role_known"
            ),
        )

    def __str__(self) -> str:
        return f"invitation {self.pk} to {self.organisation}"

    def is_open(self, now: Any) -> bool:
        return self.accepted_at is None and self.withdrawn_at is None and self.expires_at > now
