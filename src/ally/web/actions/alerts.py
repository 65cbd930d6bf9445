"""Writes to alerts: a clinician sees one, then acts on it with a note and the suggestions used."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.web import audit
from ally.web.alerts.models import Alert, UsedSuggestion, seal_note
from ally.web.clinic import guidance
from ally.web.practice.models import Episode, Membership
from ally.web.scoping import check_can_record


class AlertActionError(Exception):
    """An action on an alert that cannot be taken as asked."""


def do_mark_alert_seen(alert: Alert, actor: Membership) -> Alert:
    """Record the first time a member saw the alert; later views change nothing."""
    check_can_record(actor, alert.episode)
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.seen_at is None:
            locked.seen_at = timezone.now()
            locked.seen_by = actor
            locked.save(update_fields=["seen_at", "seen_by"])
            audit.record("alert.seen", actor=actor, target=locked)
    return locked


def do_act_on_alert(
    alert: Alert,
    actor: Membership,
    note: str,
    used: Sequence[str] = (),
    positions: Mapping[str, int] | None = None,
) -> Alert:
    """Record what was done about the alert: the suggestions `used` (step keys of its
    guidance, at their `positions` in the list shown) and the note; the note written starts with
    the used suggestions in the guidance's words (`guidance.record_of`). It counts as seen by
    the same member if not yet."""
    advice = guidance.for_alert(alert.kind)
    chosen = _steps(advice, used)
    note = guidance.record_of(advice, chosen, note)
    if not note:
        raise AlertActionError(_("Write what was done about this alert."))
    check_can_record(actor, alert.episode)
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.acted_at is not None:
            raise AlertActionError(_("This alert has already been acted on."))
        now = timezone.now()
        fields = ["acted_at", "acted_by", "action_note"]
        if locked.seen_at is None:
            locked.seen_at, locked.seen_by = now, actor
            fields += ["seen_at", "seen_by"]
        # Free text about the client: sealed under their data key, like their name.
        locked.acted_at, locked.acted_by = now, actor
        locked.action_note = seal_note(locked, note)
        locked.save(update_fields=fields)
        audit.record("alert.acted_on", actor=actor, target=locked)
        if advice is not None:
            _record_used(locked.episode, locked, advice, chosen, positions, actor, now)
    return locked


def do_record_used_suggestions(
    episode: Episode,
    actor: Membership,
    guidance_key: str,
    used: Sequence[str],
    positions: Mapping[str, int] | None = None,
    now: dt.datetime | None = None,
) -> list[UsedSuggestion]:
    """Record the suggestions a clinician used for a signal that raised no alert (yellow)."""
    advice = guidance.by_key(guidance_key)
    if advice is None:
        raise AlertActionError(_("These suggestions are not known; reload the page."))
    chosen = _steps(advice, used)
    if not chosen:
        raise AlertActionError(_("Tick the suggestions you used."))
    check_can_record(actor, episode)
    with transaction.atomic():
        return _record_used(episode, None, advice, chosen, positions, actor, now or timezone.now())


def _steps(advice: guidance.Guidance | None, used: Sequence[str]) -> list[str]:
    """The used step keys in the guidance's order; a key it does not have is refused."""
    if advice is None:
        return []
    keys = [step.key for step in advice.steps]
    unknown = sorted(set(used) - set(keys))
    if unknown:
        raise AlertActionError(
            _("A ticked suggestion is not one of this alert's; reload the page.")
        )
    return [key for key in keys if key in used]


def _record_used(
    episode: Episode,
    alert: Alert | None,
    advice: guidance.Guidance,
    chosen: Sequence[str],
    positions: Mapping[str, int] | None,
    actor: Membership,
    now: dt.datetime,
) -> list[UsedSuggestion]:
    order = {step.key: i for i, step in enumerate(advice.steps, 1)}
    rows = [
        UsedSuggestion.objects.create(
            episode=episode,
            alert=alert,
            guidance=advice.key,
            step=key,
            position=(positions or order).get(key, order[key]),
            recorded_at=now,
            recorded_by=actor,
        )
        for key in chosen
    ]
    for row in rows:
        audit.record("suggestion.used", actor=actor, target=row)
    return rows
