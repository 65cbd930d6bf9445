from django.apps import AppConfig
from django.core import checks


class PrivacyConfig(AppConfig):
    name = "ally.web.privacy"
    label = "privacy"
    verbose_name = "Privacy: encryption keys, erasure and clients' own exports"

    def ready(self) -> None:
        from ally.web.privacy.checks import master_keys_usable

        checks.register(master_keys_usable, checks.Tags.security)
