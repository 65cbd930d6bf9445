from django.apps import AppConfig


class ApiClientsConfig(AppConfig):
    name = "ally.web.apiclients"
    label = "apiclients"
    verbose_name = "API clients"
