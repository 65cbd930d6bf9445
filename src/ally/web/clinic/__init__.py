"""The staff side: caseload, client pages, alerts and dashboards."""
