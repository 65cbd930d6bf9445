from django.apps import AppConfig


class EndingsConfig(AppConfig):
    name = "ally.web.endings"
    label = "endings"
    verbose_name = "Endings: final measures, the client's review, closing summary and follow-up"
