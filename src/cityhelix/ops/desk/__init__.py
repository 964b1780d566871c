"""Incidents, departments, SLAs and escalation, Open311 GeoReport v2, webhooks, KPIs."""
