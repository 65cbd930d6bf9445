"""A member's forms from the group's plan, beside those of their own plan.

The group's plan counts the group's sessions (`Session.number` of the group session), so a
measure "every 4th group session" comes at the same meeting for everyone, whatever session of
their own episode it is. Safe to call again: a session never gets two forms of the same measure,
respondent and timing (whichever plan asked first gave it).
"""

from __future__ import annotations

from django.db import transaction

from ally.web.actions.answers import do_create_administration
from ally.web.collect.models import Administration
from ally.web.collect.planning import NEEDS_FORMS, link_expiry
from ally.web.groups.models import GroupPlannedMeasure, MemberSession
from ally.web.practice.models import Membership, Session


def group_planned_for(part: MemberSession) -> list[GroupPlannedMeasure]:
    """The group plan's entries that apply to this group session's number."""
    group_session = part.group_session
    if group_session.number is None:
        return []
    entries = GroupPlannedMeasure.objects.filter(group_id=group_session.group_id).order_by("pk")
    return [entry for entry in entries if entry.applies_to(group_session.number)]


def group_forms_for(part: MemberSession, actor: Membership | None) -> list[Administration]:
    """Create the member's missing forms from the group's plan; returns the new ones only."""
    wanted = group_planned_for(part)
    if not wanted:
        return []
    created = []
    with transaction.atomic():
        locked = Session.objects.select_for_update().get(pk=part.session_id)
        if locked.status not in NEEDS_FORMS:
            return []
        have = set(locked.administrations.values_list("measure_id", "respondent", "timing"))
        expires_at = link_expiry(locked)
        for entry in wanted:
            key = (entry.measure_id, entry.respondent, entry.timing)
            if key in have:
                continue
            have.add(key)
            created.append(
                do_create_administration(
                    part.episode,
                    entry.measure_id,
                    actor=actor,
                    expires_at=expires_at,
                    session=locked,
                    respondent=entry.respondent,
                    timing=entry.timing,
                )
            )
    return created
