from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "ally.web.groups"
    label = "groups"
    verbose_name = "Group therapy: schedules, plans, sessions and the group page"
