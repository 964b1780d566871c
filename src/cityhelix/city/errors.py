"""The city pillar's errors: a status and a message that names the field, rendered as
`{"detail": ...}` on `/api/city` by `routes.CityRoute`."""

from __future__ import annotations


class CityError(Exception):
    """A request the city services refuse; nothing was changed."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequest(CityError):
    status = 400


class Forbidden(CityError):
    status = 403


class NotFound(CityError):
    status = 404


class Unprocessable(CityError):
    """The data exist but do not allow the answer (no PM2.5 or PM10 for an AQI)."""

    status = 422
