"""The data hub's errors: one small hierarchy, mapped to SensorThings JSON errors in `api`.

Every message names the offending field or token and what was expected, because the
reader is an integrator looking at a curl answer, not at our logs.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of the hub's errors; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequest(HubError):
    """The request body or URL is malformed or breaks the data model (400)."""


class BadQuery(BadRequest):
    """A query option ($filter, $orderby, ...) cannot be parsed or names something unknown."""

    def __init__(
        self, message: str, *, token: str | None = None, position: int | None = None
    ) -> None:
        super().__init__(message, field=token)
        self.token = token
        self.position = position


class NotFound(HubError):
    """The addressed entity or path does not exist (404)."""

    status = 404


class MethodNotAllowed(HubError):
    """The resource exists but does not answer this method (405)."""

    status = 405


class UnsupportedMediaType(HubError):
    """The request body is in a media type the endpoint does not take (415)."""

    status = 415


class Forbidden(HubError):
    """The caller is known but may not write this entity (403)."""

    status = 403


class Conflict(HubError):
    """The write would break a uniqueness or integrity rule (409)."""

    status = 409


class Overloaded(HubError):
    """The ingest queue is full: the database is behind; retry after `retry_after` s (503)."""

    status = 503

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
