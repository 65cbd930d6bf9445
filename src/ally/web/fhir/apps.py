from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "ally.web.fhir"
    label = "fhir"
    verbose_name = "FHIR"
