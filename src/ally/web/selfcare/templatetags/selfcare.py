"""`{% self_care_due membership as due %}`: whether the member's own check-in is due on the
schedule they chose, for the account menu (only the member's own page draws it)."""

from __future__ import annotations

from django import template
from django.utils import timezone

from ally.web.practice.models import Membership
from ally.web.selfcare.readings import due_on

register = template.Library()


def self_care_due(membership: Membership) -> bool:
    due = due_on(membership, timezone.localdate())
    return due is not None and due <= timezone.localdate()


register.simple_tag(self_care_due)
