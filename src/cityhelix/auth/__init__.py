"""Users, API tokens, roles and the audit trail, shared by every pillar."""
