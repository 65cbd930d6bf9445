"""The scheduled job: send due links, remind once, expire what is past its time.

Run by `ally manage send_due_links` from cron or a systemd timer (docs/deploy.md), e.g. every
15 minutes. Each step goes through the write path and is safe to repeat: a link already sent is
not sent again, a reminder goes once, an expired form stays expired.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ally.web.actions.answers import do_expire_administration
from ally.web.actions.endings import send_due_follow_ups
from ally.web.collect.models import Administration, AdministrationStatus, Respondent, Timing
from ally.web.collect.models.administrations import OPEN_STATUSES
from ally.web.endings.models import Purpose
from ally.web.practice.models import ClientIdentity, SessionStatus

log = logging.getLogger(__name__)


@dataclass
class DueRun:
    expired: int = 0
    sent: int = 0
    reminded: int = 0
    no_email: int = 0
    failed: int = 0


def _with_email(administrations: list[Administration]) -> tuple[list[Administration], int]:
    clients = {a.episode.client_id for a in administrations}
    # Emails are sealed: each identity is opened, not filtered on a column.
    identities = ClientIdentity.objects.filter(client_id__in=clients)
    reachable = {identity.client_id for identity in identities if identity.email}
    kept = [a for a in administrations if a.episode.client_id in reachable]
    return kept, len(administrations) - len(kept)


def _one_message_each(
    administrations: list[Administration],
) -> list[tuple[Administration, list[Administration]]]:
    """The forms to send, each with those that go in the same message: an ending's forms (the
    final measures, the goals, the review) go together, and so do a follow-up's, since one link
    opens them all (respond.visit.siblings); any other form has a message of its own."""
    from ally.web.respond.visit import in_order

    together: dict[tuple[object, ...], list[Administration]] = {}
    for administration in administrations:
        form = getattr(administration, "ending_form", None)
        if form is None:
            key: tuple[object, ...] = ("form", administration.pk)
        else:
            key = ("ending", form.ending_id, form.purpose == Purpose.FOLLOW_UP)
        together.setdefault(key, []).append(administration)
    messages = []
    for forms in together.values():
        first, *rest = in_order(forms)
        messages.append((first, rest))
    return messages


def send_due_links(now: dt.datetime | None = None) -> DueRun:
    """Expire, send and remind, in that order; returns counts only (safe to log)."""
    from ally.web.respond.links import LinkError, send_link_by_email

    now = now or timezone.now()
    run = DueRun()
    open_forms = Administration.objects.filter(status__in=OPEN_STATUSES).select_related(
        "episode__organisation", "session", "ending_form"
    )
    for administration in open_forms.filter(expires_at__lte=now):
        do_expire_administration(administration)
        run.expired += 1

    # A follow-up check that has come due gets its forms now, to be sent below.
    send_due_follow_ups(now)
    lead = dt.timedelta(hours=settings.ALLY_SEND_BEFORE_HOURS)
    live = open_forms.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).filter(
        # An ended episode's forms are not sent, except those its ending sent (docs/data-model.md).
        Q(episode__ended_on__isnull=True) | Q(ending_form__isnull=False),
        respondent=Respondent.CLIENT,
    )
    # Before-session forms go out ahead of the session; after-session forms once it was held;
    # a support check with no session to go with goes at once (docs/feedback.md), and so do the
    # forms of a planned ending and of a follow-up.
    due = live.filter(status=AdministrationStatus.CREATED).filter(
        Q(session__isnull=False, timing=Timing.BEFORE, session__scheduled_at__lte=now + lead)
        | Q(session__isnull=False, timing=Timing.AFTER, session__status=SessionStatus.ATTENDED)
        | Q(session__isnull=True, support_check__isnull=False)
        | Q(ending_form__isnull=False)
    )
    remind_before = now - dt.timedelta(hours=settings.ALLY_REMIND_AFTER_HOURS)
    reminders = live.filter(
        status=AdministrationStatus.SENT, reminded_at__isnull=True, sent_at__lte=remind_before
    )
    for batch, reminder in ((list(due), False), (list(reminders), True)):
        reachable, unreachable = _with_email(batch)
        run.no_email += unreachable
        for administration, sent_with in _one_message_each(reachable):
            try:
                send_link_by_email(administration, None, reminder=reminder, sent_with=sent_with)
            except (LinkError, OSError):
                # An unreachable mail server: the forms stay due and the next run tries again.
                run.failed += 1 + len(sent_with)
                continue
            if reminder:
                run.reminded += 1 + len(sent_with)
            else:
                run.sent += 1 + len(sent_with)
    log.info(
        "due links: %d expired, %d sent, %d reminded, %d without email, %d failed",
        run.expired,
        run.sent,
        run.reminded,
        run.no_email,
        run.failed,
    )
    return run
