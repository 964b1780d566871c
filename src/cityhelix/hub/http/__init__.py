"""The hub over HTTP: SensorThings under `/v1.1` and the hub's plain API under `/api/hub`.

Protocol adapters only, beside `hub/mqtt/`: they translate requests to `hub.service` and
`hub.dispatch` calls and back; nothing below them imports this package.
"""
