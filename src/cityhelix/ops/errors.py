"""The operations centre's errors: a status, a message that names the field, the field.

Rendered as `{"detail": ...}` on `/api/ops` (`OpsRoute`) and as GeoReport error lists on
`/open311` (that API's own route class).
"""

from __future__ import annotations


class OpsError(Exception):
    """A request the operations centre refuses; nothing was changed."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequest(OpsError):
    status = 400


class Forbidden(OpsError):
    status = 403


class NotFound(OpsError):
    status = 404


class Conflict(OpsError):
    status = 409


class TooLarge(OpsError):
    status = 413


class UnsupportedMediaType(OpsError):
    status = 415


class Unavailable(OpsError):
    """A service the request needs (e.g. the attachment storage) did not answer."""

    status = 503
