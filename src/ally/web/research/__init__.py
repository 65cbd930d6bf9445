"""Research exports: a de-identified data set of the whole practice (docs/research.md)."""
