"""Errors the engine reports to people: what was wrong, where, and what to do."""


class AnalysisError(Exception):
    """An input or option that stops the whole run; the message is shown as it is."""
