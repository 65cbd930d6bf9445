"""Alerts: the open ones across the caseload, one-click "seen", and "acted on" with a note."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from ally.web.actions.alerts import AlertActionError, do_act_on_alert, do_mark_alert_seen
from ally.web.alerts.models import Alert, AlertKind, most_severe_first
from ally.web.clinic import guidance, support
from ally.web.clinic.forms import ActOnAlertForm
from ally.web.clinic.guidance import Suggestion
from ally.web.clinic.roles import WRITERS, can_write, post_only, received_alerts, staff_context
from ally.web.members import member_view
from ally.web.monitoring.models import SessionFeedback
from ally.web.practice.models import Episode, Membership
from ally.web.scoping import get_scoped_or_404


@dataclass
class AlertView:
    """An alert as the page shows it: with what to explore next and the form to record it."""

    alert: Alert
    guidance: guidance.Guidance | None
    steps: list[str]
    form: ActOnAlertForm | None
    suggestions: list[Suggestion] = field(default_factory=list)
    order_note: str = ""
    """What the order of the suggestions rests on (the support check, the alliance)."""


@dataclass(frozen=True)
class Following:
    """What the suggestions of an episode follow: its support check and alliance parts."""

    check: guidance.CheckState
    parts: guidance.PartsNow | None

    @classmethod
    def of(cls, episode: Episode, rows: Iterable[SessionFeedback]) -> Following:
        return cls(support.check_state(episode), support.parts_now(rows))

    def suggestions(self, advice: guidance.Guidance) -> list[guidance.Suggestion]:
        return guidance.follow_the_client(advice, self.check, self.parts)

    def note(self, advice: guidance.Guidance) -> str:
        if advice.key not in guidance.FOLLOWS_THE_CLIENT:
            return ""
        return guidance.check_note(self.check, self.parts)


def rupture_subscale(alert: Alert, rows: Iterable[SessionFeedback]) -> str:
    """The subscale that fell most at the rupture this alert is about (from its source key,
    "measure:rater:session"), or "" when unknown."""
    parts = alert.source_key.split(":")
    if alert.kind != AlertKind.RUPTURE or len(parts) != 3 or not parts[2].isdigit():
        return ""
    measure_id, rater, session = parts[0], parts[1], int(parts[2])
    for row in rows:
        if (row.measure_id, row.rater, row.session_number) == (measure_id, rater, session):
            return row.rupture_subscale
    return ""


def alert_views(
    alerts: Iterable[Alert],
    membership: Membership,
    rows: Iterable[SessionFeedback] = (),
    following: Following | None = None,
) -> list[AlertView]:
    """The alerts with their guidance; with `following` (one episode's page), the suggestions
    in the order the client's support check and alliance give them."""
    rows = list(rows)
    views = []
    for alert in alerts:
        advice = guidance.for_alert(alert.kind)
        subscale = rupture_subscale(alert, rows)
        steps = [guidance.step_text(step, subscale) for step in advice.steps] if advice else []
        suggestions: list[guidance.Suggestion] = []
        note = ""
        if advice is not None and following is not None:
            suggestions = following.suggestions(advice)
            if advice.key not in guidance.FOLLOWS_THE_CLIENT:
                suggestions = [
                    guidance.Suggestion(s.step, text, (), s.position)
                    for s, text in zip(suggestions, steps, strict=True)
                ]
            note = following.note(advice)
        form = None
        if alert.acted_at is None and can_write(membership):
            order = [s.step for s in suggestions] or None
            form = ActOnAlertForm(guidance=advice, prefix=f"alert-{alert.pk}", order=order)
        views.append(AlertView(alert, advice, steps, form, suggestions, note))
    return views


def positions_of(episode: Episode, advice: guidance.Guidance | None) -> dict[str, int]:
    """Where each suggestion stood on the client page when it was ticked."""
    if advice is None:
        return {}
    rows = SessionFeedback.objects.filter(episode=episode)
    return {s.step.key: s.position for s in Following.of(episode, rows).suggestions(advice)}


def _back(org: str, alert: Alert, request: HttpRequest) -> HttpResponse:
    if request.POST.get("next") == "alerts":
        return redirect("clinic:alerts", org=org)
    url = reverse("clinic:episode", kwargs={"org": org, "pk": alert.episode_id})
    return redirect(f"{url}#alert-{alert.pk}")


@member_view()
def alert_list(request: HttpRequest, org: str) -> HttpResponse:
    """The open alerts of every episode the member may see, most severe first (a critical
    item before a signal), then newest first.

    Ended episodes too: a client may still answer a form sent before the end, and an endorsed
    critical item must reach someone (hazard H12 in docs/security.md)."""
    membership = request.membership
    alerts = (
        received_alerts(membership)
        .filter(acted_at__isnull=True)
        .select_related("episode__client", "episode__clinician__user", "seen_by__user")
        .order_by(most_severe_first(), "-raised_at", "-pk")
    )
    context = staff_context(request, org, alerts=alert_views(alerts, membership))
    return render(request, "clinic/alerts.html", context)


@member_view(roles=WRITERS)
@post_only
def alert_seen(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    alert = get_scoped_or_404(Alert.objects.select_related("episode"), membership, pk=pk)
    do_mark_alert_seen(alert, membership)
    messages.success(request, _("Marked as seen."))
    return _back(org, alert, request)


@member_view(roles=WRITERS)
@post_only
def alert_act(request: HttpRequest, org: str, pk: int) -> HttpResponse:
    membership = request.membership
    alert = get_scoped_or_404(Alert.objects.select_related("episode"), membership, pk=pk)
    advice = guidance.for_alert(alert.kind)
    form = ActOnAlertForm(request.POST, guidance=advice, prefix=f"alert-{alert.pk}")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, _("Not recorded: %(error)s") % {"error": error})
        return _back(org, alert, request)
    used = form.cleaned_data.get("done", [])
    try:
        do_act_on_alert(
            alert, membership, form.cleaned_data["note"], used, positions_of(alert.episode, advice)
        )
    except AlertActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Recorded what was done about the alert."))
    return _back(org, alert, request)
