"""The collection models, one file per concern."""

from ally.web.collect.models.administrations import Administration, AdministrationStatus
from ally.web.collect.models.choices import Respondent, Timing
from ally.web.collect.models.immutable import Immutable, ImmutableRecordError
from ally.web.collect.models.plans import MeasurementPlan, PlannedMeasure
from ally.web.collect.models.responses import Amendment, Response

__all__ = [
    "Administration",
    "AdministrationStatus",
    "Amendment",
    "Immutable",
    "ImmutableRecordError",
    "MeasurementPlan",
    "PlannedMeasure",
    "Respondent",
    "Response",
    "Timing",
]
