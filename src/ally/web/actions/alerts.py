"""Writes to alerts: a clinician sees one, then acts on it with a note."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ally.web import audit
from ally.web.alerts.models import Alert, seal_note
from ally.web.practice.models import Membership
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


def do_act_on_alert(alert: Alert, actor: Membership, note: str) -> Alert:
    """Record what was done about the alert; it counts as seen by the same member if not yet."""
    note = note.strip()
    if not note:
        raise AlertActionError("Write what was done about this alert.")
    check_can_record(actor, alert.episode)
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.acted_at is not None:
            raise AlertActionError("This alert has already been acted on.")
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
    return locked
