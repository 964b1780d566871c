"""Committed changes, told to whoever needs them: the in-process bus (live, may drop for a
slow subscriber) and the durable stream (`stream`: consumer groups read from a stored
position; backends `database` and `nats`), fed by one outbox written in each write's
transaction."""
