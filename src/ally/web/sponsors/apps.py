from django.apps import AppConfig


class SponsorsConfig(AppConfig):
    name = "ally.web.sponsors"
    label = "sponsors"
    verbose_name = "Sponsors of coaching engagements and the client's consent to what they see"
