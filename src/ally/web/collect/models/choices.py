"""Who answers a measure and when, shared by plans and administrations."""

from __future__ import annotations

from django.db import models


class Respondent(models.TextChoices):
    CLIENT = "client", "Client"
    CLINICIAN = "clinician", "Clinician"
    OBSERVER = "observer", "Observer"


class Timing(models.TextChoices):
    BEFORE = "before", "Before the session"
    AFTER = "after", "After the session"
