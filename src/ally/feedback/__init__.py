"""Feedback each session: expected treatment response, signals, the alliance and dropout risk."""
