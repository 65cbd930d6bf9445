from django.apps import AppConfig


class RespondConfig(AppConfig):
    name = "ally.web.respond"
    label = "respond"
    verbose_name = "The client's side: links and questionnaires"
