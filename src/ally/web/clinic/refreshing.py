"""Bring the engine's feedback up to date after a change made on the staff side."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _

from ally.web.feedback.refresh import refresh_now
from ally.web.practice.models import Episode


def refresh_episode(request: HttpRequest, episode: Episode) -> None:
    """Recompute the episode's scores, signals and alerts before the member's next page.

    At once, not queued: the member has just changed what the charts show (an amendment, an
    ending) and looks at them next. A failure leaves the stored change as it is and tells the
    member that the charts will catch up at the next refresh.
    """
    if not refresh_now(episode.pk):
        messages.warning(
            request,
            _("Saved. The charts could not be updated just now; they will be at the next refresh."),
        )
