"""Shared storage ground: engine, metadata, column types, the dialect seam and migrations."""
