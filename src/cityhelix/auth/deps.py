"""Who is calling, from the `Authorization` header: Bearer token, or Basic name + token.

Basic is accepted because published SensorThings clients (frost-sta-client, Grafana's
datasource) only speak Basic; the password is the token, as on MQTT.
"""

from __future__ import annotations

import base64
import binascii

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import ANONYMOUS, Principal
from cityhelix.auth.service import authenticate
from cityhelix.settings import Settings


class NotAuthenticated(Exception):
    """No credentials where they are required, or credentials nobody holds (401)."""


def credentials(header: str | None) -> tuple[str | None, str] | None:
    """(name or None, token) from an Authorization header, None when there is none."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            name, _, token = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise NotAuthenticated("malformed Basic credentials") from None
        if token:
            return name or None, token
    raise NotAuthenticated("expected 'Authorization: Bearer <token>'")


async def principal_from_header(
    engine: AsyncEngine, settings: Settings, header: str | None, *, write: bool
) -> Principal:
    """The caller; anonymous only for reads when public reading is on."""
    given = credentials(header)
    if given is None:
        if write or not settings.public_read:
            raise NotAuthenticated("this request needs 'Authorization: Bearer <token>'")
        return ANONYMOUS
    name, token = given
    principal = await authenticate(engine, settings, token, name)
    if principal is None:
        raise NotAuthenticated("unknown or revoked token")
    return principal
