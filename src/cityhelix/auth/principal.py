"""Who is calling: the authenticated principal and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The roles of DESIGN.md section 7."""

    ADMIN = "admin"
    OPERATOR = "operator"
    DEPARTMENT = "department"
    ANALYST = "analyst"
    TENANT = "tenant"
    PUBLIC = "public"


#: roles that may write every SensorThings entity
HUB_WRITERS = frozenset({Role.ADMIN, Role.OPERATOR})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; `user_id` is None for the token from the environment."""

    name: str
    role: Role
    user_id: int | None = None
    #: the department a user of role `department` belongs to (its incidents only)
    department: str | None = None

    @property
    def writes_all_of_hub(self) -> bool:
        return self.role in HUB_WRITERS

    @property
    def is_tenant(self) -> bool:
        return self.role is Role.TENANT


ANONYMOUS = Principal("anonymous", Role.PUBLIC)
