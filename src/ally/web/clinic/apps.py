from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "ally.web.clinic"
    label = "clinic"
    verbose_name = "The staff side: caseload, client pages and dashboards"
