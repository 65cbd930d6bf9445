"""Therapy groups: leaders and the episodes of the clients who take part."""

from __future__ import annotations

from typing import Any

from django.db import models

from ally.web.practice.models.episodes import Episode
from ally.web.practice.models.organisations import Membership, Organisation, same_organisation
from ally.web.scoping import Scope, ScopedQuerySet


class Group(models.Model):
    """A therapy group, named by a label that identifies no one."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="groups")
    label = models.CharField(max_length=200)
    leaders = models.ManyToManyField(Membership, related_name="groups_led", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="organisation", episodes=("members__episode",), members=("leaders",))

    def __str__(self) -> str:
        return self.label


class GroupMember(models.Model):
    """A client's episode taking part in a group."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="group_places")
    joined_on = models.DateField()
    left_on = models.DateField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope = Scope(organisation="group__organisation", episodes=("episode",))

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["group", "episode"], name="group_member_once"),
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        same_organisation(self.group, self.episode)
        super().save(*args, **kwargs)
