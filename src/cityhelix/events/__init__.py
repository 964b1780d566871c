"""Publish/subscribe of committed changes inside the process, and adapters to brokers."""
