"""The operations centre's door for other pillars (web, city, helix): plain async functions.

Other pillars call only what is named here; the parts' modules stay private to ops.
"""

from __future__ import annotations

# --- alerting: rules and alerts (ops.alerting) -----------------------------------------

# --- desk: incidents, departments, Open311, webhooks, KPIs (ops.desk) -----------------
