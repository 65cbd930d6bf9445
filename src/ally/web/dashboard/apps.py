from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "ally.web.dashboard"
    label = "dashboard"
    verbose_name = "Dashboards over clinicians"
