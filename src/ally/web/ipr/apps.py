from django.apps import AppConfig


class IprConfig(AppConfig):
    name = "ally.web.ipr"
    label = "ipr"
    verbose_name = "Interpersonal Process Recall"

    def ready(self) -> None:
        from ally.web.ipr import signals  # noqa: F401
