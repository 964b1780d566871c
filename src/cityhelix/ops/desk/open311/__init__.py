"""Open311 GeoReport v2 under `/open311/v2`: services from the catalogue, citizen requests
that become incidents, client API keys."""
