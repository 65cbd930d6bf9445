"""Ally's data in other systems' formats: FHIR R4 resources built from measures and scores."""
