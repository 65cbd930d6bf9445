"""Alerts: raised by the engine's rules, seen by a clinician, acted on with a note."""
