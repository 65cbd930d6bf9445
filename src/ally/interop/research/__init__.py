"""Research exports: the codebook generated from the measure files, and the de-identification
rules (random pseudonyms, per-client date shifts or year-only dates, small-cell suppression).
Pure: the web app gathers the rows and writes the files."""

from ally.interop.research.codebook import (
    Variable,
    item_variables,
    measure_prefix,
    measure_variables,
    subscale_variables,
)
from ally.interop.research.deidentify import (
    DateProfile,
    Pseudonyms,
    draw_offset,
    suppress_counts,
)

__all__ = [
    "DateProfile",
    "Pseudonyms",
    "Variable",
    "draw_offset",
    "item_variables",
    "measure_prefix",
    "measure_variables",
    "subscale_variables",
    "suppress_counts",
]
