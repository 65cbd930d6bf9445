"""Client links: one signed, expiring address per administration, sent by email, copied or shown
as a QR code for a tablet in the room.

The address carries the administration's random token, signed with a timestamp: a changed
character fails the signature, and an old link fails its age, before the database is asked.
The token moves into the client's session cookie on first open (see respond.views), so the
address bar never keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence

import segno
from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ally.web.actions.answers import do_mark_reminded, do_mark_sent
from ally.web.collect.models import Administration
from ally.web.practice.models import ClientIdentity, Membership
from ally.web.scoping import check_can_record
from ally.web.vocabulary import in_words_of

SALT = "ally.respond.link"


class LinkError(Exception):
    """A link that cannot be sent as asked (no email address, a closed administration)."""


class BadLinkError(Exception):
    """A link whose signature does not hold: changed, cut short or made up."""


class OldLinkError(Exception):
    """A link older than ALLY_LINK_HOURS."""


def signed_token(administration: Administration) -> str:
    return signing.TimestampSigner(salt=SALT).sign(administration.link_token)


def token_from(signed: str) -> str:
    """The token inside a signed link; BadLinkError or OldLinkError when it does not hold."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        return signer.unsign(signed, max_age=settings.ALLY_LINK_HOURS * 3600)
    except signing.SignatureExpired:
        raise OldLinkError from None
    except signing.BadSignature:
        raise BadLinkError from None


def base_url(request: HttpRequest | None = None) -> str:
    """Where links Ally hands out start: ALLY_BASE_URL; but under `ally serve` (plain HTTP on
    this machine or a local network, LOCAL_HTTP) the address this request reached Ally at, so
    that a phone on the same network opens the link or QR code it is shown. `get_host` has
    checked the Host header against ALLOWED_HOSTS, so no other address can get in."""
    if request is not None and settings.LOCAL_HTTP:
        return f"{request.scheme}://{request.get_host()}"
    return str(settings.ALLY_BASE_URL)


def link_url(administration: Administration, base: str | None = None) -> str:
    """The full address the client opens (`base`: `base_url` of the request, if any)."""
    path = reverse("respond:open", kwargs={"signed": signed_token(administration)})
    return f"{(base or settings.ALLY_BASE_URL).rstrip('/')}{path}"


def qr_svg(url: str) -> str:
    """An inline SVG QR code of `url`, for a tablet or a phone camera in the room."""
    return str(segno.make(url, error="m").svg_inline(scale=6, title=_("QR code of the link")))


def send_link_by_email(
    administration: Administration,
    actor: Membership | None,
    *,
    reminder: bool = False,
    base: str | None = None,
    sent_with: Sequence[Administration] = (),
) -> None:
    """Email the link to the client's address on file and record that it was sent.

    `actor` is the member who sends it, or None for the scheduled job (send_due_links).
    `sent_with`: the other forms an ending (or its follow-up) sent, which the same link opens
    (`respond.visit.siblings`): one message, not about a session, tells of them all, and they
    are marked sent with it.
    """
    if actor is not None:
        check_can_record(actor, administration.episode)
    if not administration.is_open:
        raise LinkError(_("This questionnaire is no longer open; create a new one."))
    identity = ClientIdentity.objects.filter(client_id=administration.episode.client_id).first()
    if identity is None or not identity.email:
        raise LinkError(
            _("This client has no email address on file; copy the link or show the QR code.")
        )
    organisation = administration.episode.organisation
    count = 1 + len(sent_with)
    with in_words_of(organisation):
        # The message names the practice only: an email can be read by others on the way. The
        # subject is one line whatever the stored name holds: a header refuses a line break.
        if sent_with or getattr(administration, "ending_form", None) is not None:
            subject = (
                _("Reminder: a few short questionnaires from %(practice)s")
                if reminder
                else _("A few short questionnaires from %(practice)s")
            )
            body = ngettext(
                "%(practice)s asks you to answer %(count)s short questionnaire. It takes a few "
                "minutes:\n\n%(link)s\n\nThe link can be opened until it is answered, for up "
                "to %(hours)s hours.",
                "%(practice)s asks you to answer %(count)s short questionnaires. This one link "
                "opens them all, one after the other; together they take a few minutes:\n\n"
                "%(link)s\n\nThe link can be opened until they are answered, for up to %(hours)s "
                "hours.",
                count,
            )
        else:
            subject = (
                _("Reminder: a short questionnaire from %(practice)s")
                if reminder
                else _("A short questionnaire from %(practice)s")
            )
            body = _(
                "%(practice)s asks you to answer a short questionnaire before or after your "
                "session. It takes a few minutes:\n\n%(link)s\n\nThe link can be opened until "
                "the questionnaire is answered, for up to %(hours)s hours."
            )
        subject = subject % {"practice": " ".join(organisation.name.split())}
        message = body % {
            "practice": organisation.name,
            "count": count,
            "link": link_url(administration, base),
            "hours": settings.ALLY_LINK_HOURS,
        }
    send_mail(subject=subject, message=message, from_email=None, recipient_list=[identity.email])
    for sent in (administration, *sent_with):
        if reminder:
            do_mark_reminded(sent)
        else:
            do_mark_sent(sent)
