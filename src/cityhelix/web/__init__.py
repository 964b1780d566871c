"""The web console and the public pages: server-rendered Jinja2 + htmx over the pillars' services.

Staff sign in with a password (sessions in a cookie); the city map reads the data hub
through `hub.service` and goes live through the in-process event bus (SSE).
"""
