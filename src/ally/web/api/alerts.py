"""Alerts: the open ones (or all), and recording that one was seen and what was done."""

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router
from ninja.pagination import paginate

from ally.web.actions.alerts import do_act_on_alert, do_mark_alert_seen
from ally.web.alerts.models import Alert, most_severe_first
from ally.web.api.auth import Org, member
from ally.web.api.episodes import Pages
from ally.web.api.schemas import BODY_REFUSED, ActionIn, AlertOut, errors
from ally.web.apiclients.models import ApiClient
from ally.web.practice.models import Membership
from ally.web.scoping import Capability, check_can_record, get_scoped_or_404, scoped

router = Router(tags=["alerts"])


def _alerts(membership: Membership | ApiClient) -> Any:
    return scoped(Alert, membership).select_related("episode__client")


@router.get(
    "/o/{org}/alerts",
    response={200: list[AlertOut], **errors(401, 404, 422)},
    operation_id="list_alerts",
    url_name="list_alerts",
    summary="Alerts on the member's episodes",
)
@paginate(Pages)
def list_alerts(request: HttpRequest, org: Org, state: Literal["open", "all"] = "open") -> Any:
    """`state=open` (the default): not yet acted on; `state=all`: every alert. The most severe
    first (a critical item before a signal), then newest first."""
    alerts = _alerts(member(request, org))
    if state == "open":
        alerts = alerts.filter(acted_at__isnull=True)
    return alerts.order_by(most_severe_first(), "-raised_at", "-pk")


def _alert_to_record(
    request: HttpRequest, org: str, alert_id: int
) -> tuple[Alert, Membership | ApiClient]:
    # Acting on an alert is a member's work: no scope gives it, so a token gets a 403.
    membership = member(request, org, needs=Capability.RECORD_CLINICAL_DATA)
    alert = get_scoped_or_404(_alerts(membership), membership, pk=alert_id)
    check_can_record(membership, alert.episode)
    return alert, membership


@router.post(
    "/o/{org}/alerts/{alert_id}/seen",
    response={200: AlertOut, **errors(401, 403, 404, 422)},
    operation_id="mark_alert_seen",
    url_name="mark_alert_seen",
    summary="Record that the member saw an alert",
)
def mark_alert_seen(request: HttpRequest, org: Org, alert_id: int) -> Any:
    """The first member and time are kept; seeing it again changes nothing."""
    alert, membership = _alert_to_record(request, org, alert_id)
    do_mark_alert_seen(alert, membership)
    return _alerts(membership).get(pk=alert.pk)


@router.post(
    "/o/{org}/alerts/{alert_id}/acted",
    response={200: AlertOut, **errors(401, 403, 404, 409, 422, *BODY_REFUSED)},
    operation_id="act_on_alert",
    url_name="act_on_alert",
    summary="Record what was done about an alert",
)
def act_on_alert(request: HttpRequest, org: Org, alert_id: int, body: ActionIn) -> Any:
    """Once per alert, with a note (409 when it was already acted on); it also counts as seen."""
    alert, membership = _alert_to_record(request, org, alert_id)
    do_act_on_alert(alert, membership, body.note)
    return _alerts(membership).get(pk=alert.pk)
