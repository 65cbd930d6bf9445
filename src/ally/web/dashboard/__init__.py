"""The supervisor's and the practice's view: caseloads, alerts and outcomes over clinicians."""
