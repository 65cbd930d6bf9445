from django.apps import AppConfig


class ResearchConfig(AppConfig):
    name = "ally.web.research"
    label = "research"
    verbose_name = "Research exports"
