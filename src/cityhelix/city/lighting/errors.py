"""Street lighting's errors: a status and the field at fault, rendered as {"detail": ...}."""

from __future__ import annotations


class LightingError(Exception):
    """A refusal of the lighting service; `field` names what was wrong."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequest(LightingError):
    status = 400


class NotFound(LightingError):
    status = 404


class Forbidden(LightingError):
    status = 403
