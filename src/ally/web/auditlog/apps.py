from django.apps import AppConfig


class AuditLogConfig(AppConfig):
    name = "ally.web.auditlog"
    label = "auditlog"
    verbose_name = "Audit log"
