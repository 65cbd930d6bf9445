from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "ally.web.privacy"
    label = "privacy"
    verbose_name = "Privacy: encryption keys, erasure and clients' own exports"
