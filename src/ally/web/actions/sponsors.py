"""A coaching engagement's sponsor, and the client's consent to what the sponsor sees.

The coach records who pays; only the client, on their own page, agrees that the sponsor sees
their progress (WHO-5 and goal progress by session), and withdraws it there again. A new
sponsor starts without consent: the client agreed to share with one sponsor, not with any.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ally.web import audit
from ally.web.actions.practice import PracticeActionError
from ally.web.practice.models import Episode, Membership
from ally.web.scoping import check_can_record
from ally.web.sponsors.models import Sponsorship
from ally.web.text import LINE, TextRefusedError, clean


def do_set_sponsor(episode: Episode, sponsor: str, *, actor: Membership) -> Sponsorship | None:
    """Record (or change, or with "" remove) who pays for the engagement."""
    check_can_record(actor, episode)
    if episode.organisation.kind != "coaching":
        raise PracticeActionError(_("Only a coaching practice records sponsors."))
    try:
        sponsor = clean(sponsor, LINE)
    except TextRefusedError as exc:
        raise PracticeActionError(str(exc), field="sponsor") from None
    if len(sponsor) > 200:
        raise PracticeActionError(
            _("Shorten the sponsor's name to 200 characters."), field="sponsor"
        )
    with transaction.atomic():
        current = Sponsorship.objects.select_for_update().filter(episode=episode).first()
        if not sponsor:
            if current is not None:
                audit.record("sponsor.removed", actor=actor, target=current)
                current.delete()
            return None
        if current is not None and current.sponsor == sponsor:
            return current
        if current is not None:
            audit.record("sponsor.removed", actor=actor, target=current)
            current.delete()  # its consent and its links end with it
        made = Sponsorship.objects.create(
            episode=episode, sponsor=sponsor, recorded_at=timezone.now()
        )
        audit.record("sponsor.recorded", actor=actor, target=made)
    return made


def do_set_sponsor_consent(
    sponsorship: Sponsorship, agreed: bool, now: dt.datetime | None = None
) -> Sponsorship:
    """The client agrees (or no longer agrees) that the sponsor sees their progress; called
    from the client's own page only (actor None: the client)."""
    with transaction.atomic():
        locked = Sponsorship.objects.select_for_update().get(pk=sponsorship.pk)
        if agreed == locked.consented:
            return locked
        locked.consent_given_at = (now or timezone.now()) if agreed else None
        locked.save(update_fields=["consent_given_at"])
        audit.record(
            "sponsor.consent_given" if agreed else "sponsor.consent_withdrawn",
            actor=None,
            target=locked,
        )
    return locked
