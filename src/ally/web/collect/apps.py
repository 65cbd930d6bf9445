from __future__ import annotations

from django.apps import AppConfig


class CollectConfig(AppConfig):
    name = "ally.web.collect"
    label = "collect"
    verbose_name = "Collect"
