"""Interpersonal Process Recall: marks of a recorded session's moments by client and clinician,
and how far their two reviews agree (Kagan's IPR; Elliott's Brief Structured Recall)."""
