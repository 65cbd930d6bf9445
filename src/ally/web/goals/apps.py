from django.apps import AppConfig


class GoalsConfig(AppConfig):
    name = "ally.web.goals"
    label = "goals"
    verbose_name = "Client goals: their wording, the ideal-life exercise, progress and attainment"
