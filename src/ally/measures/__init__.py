"""Measures as data: one YAML definition per questionnaire, validated on load."""

from ally.measures.library import Library, MeasureFileError, load_library, load_measure_file
from ally.measures.schema import Direction, Item, Kind, Measure, Options, Scale

__all__ = [
    "Direction",
    "Item",
    "Kind",
    "Library",
    "Measure",
    "MeasureFileError",
    "Options",
    "Scale",
    "load_library",
    "load_measure_file",
]
