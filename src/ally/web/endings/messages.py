"""The one message an unplanned ending may send: that the practice noticed the client stopped.

Off unless the practice turns it on (ALLY_STOPPED_MESSAGE) and the clinician ticks it at the
ending: an email can be read by others, so it names the practice only and says nothing about
therapy, the reason or any answer.
"""

from __future__ import annotations

from django.core.mail import send_mail
from django.utils.translation import gettext as _

from ally.web.practice.models import ClientIdentity, Episode
from ally.web.vocabulary import in_words_of


def tell_client_we_noticed(episode: Episode) -> bool:
    """Email the client on file; False when there is no address or the mail server refused."""
    identity = ClientIdentity.objects.filter(client_id=episode.client_id).first()
    if identity is None or not identity.email:
        return False
    practice = " ".join(episode.organisation.name.split())
    with in_words_of(episode.organisation):
        subject = _("A message from %(practice)s") % {"practice": practice}
        message = _(
            "We noticed that we have not seen you for a while. You are welcome to contact "
            "%(practice)s whenever you wish, and you do not need to reply to this message."
        ) % {"practice": practice}
    try:
        send_mail(
            subject=subject, message=message, from_email=None, recipient_list=[identity.email]
        )
    except OSError:
        return False
    return True
