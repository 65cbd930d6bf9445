from django.apps import AppConfig


class SelfCareConfig(AppConfig):
    name = "ally.web.selfcare"
    label = "selfcare"
    verbose_name = "Practitioners' own self-care check-ins"
