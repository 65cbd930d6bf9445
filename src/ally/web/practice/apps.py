from __future__ import annotations

from django.apps import AppConfig


class PracticeConfig(AppConfig):
    name = "ally.web.practice"
    label = "practice"
    verbose_name = "Practice"

    def ready(self) -> None:
        from ally.web import vocabulary

        # A coaching practice's words in every message Ally translates (ally.web.vocabulary).
        vocabulary.install()
