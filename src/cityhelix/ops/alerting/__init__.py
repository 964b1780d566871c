"""Rules and alerts: evaluation on the hub's durable stream, preview, stale checks, SSE, CAP."""
