"""What a member's role lets them do on the staff side, for views and templates alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from ally.web.practice.models import Membership
from ally.web.scoping import Capability, Role, can, roles_with, scoped

WRITERS = roles_with(Capability.RECORD_CLINICAL_DATA)
"""Roles that may use the forms; a researcher gets a 403 (read only)."""

SESSION_LEADERS = WRITERS - {Role.ADMIN}
"""Roles whose members lead sessions and hold episodes: clinicians and supervisors. An
administrator may record data for the practice, but sees no clients of their own, so they are
not offered as an episode's clinician, a session's "Led by" or the care team."""


def can_write(membership: Membership) -> bool:
    return can(membership, Capability.RECORD_CLINICAL_DATA)


def sees_names(membership: Membership) -> bool:
    return can(membership, Capability.SEE_IDENTITY)


def sees_dashboard(membership: Membership) -> bool:
    return can(membership, Capability.SEE_DASHBOARD)


def received_alerts(membership: Membership) -> Any:
    """The alerts that reach the member: those they may see, less the episodes whose care team
    they are on without receiving alerts (the episode page still shows them)."""
    from ally.web.alerts.models import Alert
    from ally.web.practice.models import CareTeamMember

    quiet = CareTeamMember.objects.filter(member=membership, receives_alerts=False)
    return scoped(Alert, membership).exclude(episode__in=quiet.values("episode"))


def open_alert_count(membership: Membership) -> int:
    """Alerts not yet acted on that reach the member (the navigation shows the count)."""
    return int(received_alerts(membership).filter(acted_at__isnull=True).count())


def staff_context(request: HttpRequest, org: str, **extra: Any) -> dict[str, Any]:
    """The context every staff page needs: the organisation, the member and what they may do."""
    membership: Membership = request.membership
    return {
        "org": org,
        "membership": membership,
        "organisation": membership.organisation,
        "can_write": can_write(membership),
        "sees_names": sees_names(membership),
        "sees_dashboard": sees_dashboard(membership),
        **extra,
    }


View = Callable[..., HttpResponse]


def post_only(view: View) -> View:
    """Django's require_POST, typed: any other method gets a 405."""
    return cast(View, require_POST(view))
