"""What Ally's FHIR endpoint offers, as the CapabilityStatement clients read at /metadata."""

from __future__ import annotations

from ally.interop.fhir.questionnaire import Resource


def _read(kind: str, *search: tuple[str, str], create: bool = False) -> Resource:
    interactions = [{"code": "read"}]
    if search:
        interactions.append({"code": "search-type"})
    if create:
        interactions.append({"code": "create"})
    resource: Resource = {"type": kind, "interaction": interactions}
    if search:
        resource["searchParam"] = [{"name": name, "type": kind_} for name, kind_ in search]
    return resource


def capability_statement(base: str, software_version: str, date: str) -> Resource:
    """The server's resources and interactions; `date` is when this version was published."""
    everything = f"{base}/OperationDefinition/EpisodeOfCare-everything"
    patient = ("patient", "reference")
    subject = ("subject", "reference")
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "Ally", "version": software_version},
        "implementation": {"description": "Ally", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "A signed-in member of a practice (session cookie, and the "
                    "CSRF token on writes); scoped like Ally's screens."
                },
                "resource": [
                    _read("Questionnaire", ("url", "uri")),
                    _read("QuestionnaireResponse", subject, patient, create=True),
                    _read("Observation", subject, patient, ("code", "token")),
                    {
                        **_read("EpisodeOfCare"),
                        "operation": [
                            {
                                "name": "everything",
                                "definition": everything,
                            }
                        ],
                    },
                ],
            }
        ],
    }
