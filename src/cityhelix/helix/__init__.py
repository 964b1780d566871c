"""Triple Helix: actors (state, enterprise, university, intermediary), collaborations,
programmes and start-ups, the synergy between them, the smart-city scorecard, open data."""
