"""Traffic: counters' counts and speeds as a level of service per road segment, and AI
cameras' analytics events (counts, violations, hazards) as category Observations."""
