"""Practitioners' self-care: each member's own check-ins, on a schedule they choose.

The answers are the member's alone. Their rows declare no `scope` on purpose: `scoping.scoped`
refuses a model without one, so no page, API, export or FHIR resource that lists rows through
the scoping rules can reach them. Only `mine(member)` reads them, for the member themself; the
practice sees `practice_aggregate`, and only when at least MIN_MEMBERS take part.
"""
