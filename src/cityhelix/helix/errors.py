"""The helix pillar's errors: a status, a message that names the field, the field.

Rendered as `{"detail": ...}` on `/api/helix` and `/api/open-data` (`HelixRoute`).
"""

from __future__ import annotations


class HelixError(Exception):
    """A request the helix pillar refuses; nothing was changed."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequest(HelixError):
    status = 400


class Invalid(HelixError):
    """Well-formed JSON that breaks a rule of the registry (a date order, a role)."""

    status = 422


class Forbidden(HelixError):
    status = 403


class NotFound(HelixError):
    status = 404


class Conflict(HelixError):
    status = 409
