"""Exact scoring of one administration: totals, subscales, bands and critical items."""

from ally.scoring.administration import (
    Answers,
    CriticalAlert,
    Problem,
    Score,
    ScoringError,
    score,
    validate,
)

__all__ = ["Answers", "CriticalAlert", "Problem", "Score", "ScoringError", "score", "validate"]
