"""The city pillar over HTTP, one router per domain under `/api/city`: adapters only."""
