"""Bring the engine's feedback up to date after a change made on the staff side."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _

from ally.web.practice.models import Episode

log = logging.getLogger(__name__)


def refresh_episode(request: HttpRequest, episode: Episode) -> None:
    """Recompute the episode's scores, signals and alerts; a failure leaves the stored answer
    as it is and tells the member that the charts will catch up at the next refresh."""
    from ally.web.feedback import refresh  # being written alongside; imported at call time

    try:
        refresh.refresh_feedback(Episode.objects.filter(pk=episode.pk))
    except Exception as exc:  # the answer is stored; only the derived numbers are late
        log.warning("feedback refresh failed for episode %d: %s", episode.pk, type(exc).__name__)
        messages.warning(
            request,
            _("Saved. The charts could not be updated just now; they will be at the next refresh."),
        )
