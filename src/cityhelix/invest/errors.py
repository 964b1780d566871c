"""The investment pillar's errors: each carries its HTTP status and the field it is about.

Rendered as FastAPI's plain `{"detail": ...}` by the pillar's route class (`http.py`), so
that SensorThings errors stay on `/v1.1` and these stay on `/api/invest`.
"""

from __future__ import annotations


class InvestError(Exception):
    """Base: a message that names the field (when there is one) and what was expected."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadInput(InvestError):
    """A value the request gave cannot be used (400)."""

    status = 400


class NotFound(InvestError):
    """The addressed park, plot, project, lead or policy does not exist (404)."""

    status = 404


class Forbidden(InvestError):
    """The caller's role may not do this (403)."""

    status = 403


class Conflict(InvestError):
    """The write contradicts the stored state: a duplicate, a stage move not allowed (409)."""

    status = 409


class Unprocessable(InvestError):
    """A file or batch with problems in some rows: each named by row and column (422)."""

    status = 422

    def __init__(self, message: str, problems: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.problems = problems
