"""FHIR R4 over HTTP at /fhir/: Ally's measures as Questionnaires, completed administrations as
QuestionnaireResponses, scores as Observations, an episode's ``$everything``, and responses
from other systems stored through the one write path. The resources come from
`ally.interop.fhir`; this app finds the rows, scoped like every screen, and answers in
application/fhir+json, with errors as OperationOutcome."""
