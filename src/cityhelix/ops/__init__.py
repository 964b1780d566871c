"""The operations centre: rules and alerts on live data, incidents, departments, Open311."""
