from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "ally.web.monitoring"
    # The tables keep the label they were created under.
    label = "feedback"
    verbose_name = "Routine outcome monitoring: the practice model and each episode's results"
