from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.signals import request_started


class FeedbackConfig(AppConfig):
    name = "ally.web.feedback"
    label = "feedback"
    verbose_name = "Feedback from the engine: scores, signals, ruptures and dropout risk"

    def ready(self) -> None:
        # The first request of each server process starts its refresh thread (background
        # mode), so rows left by a restart are drained without waiting for a new answer.
        request_started.connect(_start_worker, dispatch_uid="ally-feedback-worker")
        checks.register(check_refresh_mode, checks.Tags.compatibility)


def _start_worker(**kwargs: Any) -> None:
    from ally.web.feedback.worker import start_in_background

    start_in_background()


def check_refresh_mode(**kwargs: Any) -> list[checks.CheckMessage]:
    """ALLY_FEEDBACK_REFRESH must be one of the known modes."""
    from ally.web.feedback.worker import MODES

    value = str(getattr(settings, "ALLY_FEEDBACK_REFRESH", MODES[0])).strip().lower()
    if value in MODES:
        return []
    return [
        checks.Error(
            f"ALLY_FEEDBACK_REFRESH is {value!r}, which Ally does not know; until it is fixed, "
            "feedback is refreshed in the background.",
            hint=f"Use one of {', '.join(MODES)} (docs/deploy.md, 'Feedback refresh in the "
            "background').",
            id="ally.feedback.E001",
        )
    ]
