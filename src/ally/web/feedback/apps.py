from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "ally.web.feedback"
    label = "feedback"
    verbose_name = "Feedback from the engine: scores, signals, ruptures and dropout risk"
