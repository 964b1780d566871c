"""JSON Patch (RFC 6902) on an entity: apply the operations to its JSON, then say what changed.

18-088 10.3 lets a PATCH carry `application/json-patch+json`. The operations are applied
to the entity as a GET shows it, and the difference becomes an ordinary PATCH body, so that
a patch is checked exactly as a PATCH is (unknown members, related entities inline, values).
Read-only members (`@iot.id`, `@iot.selfLink`, navigation links, derived times) may be
read by a `test` but not changed.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer

from cityhelix.hub.errors import BadRequest, Conflict
from cityhelix.hub.model import EntityType

#: operations per patch: a patch edits one entity, and each operation copies the document
MAX_OPERATIONS = 1000


def patched_members(
    entity_type: EntityType, current: dict[str, Any], operations: object
) -> dict[str, Any]:
    """The PATCH body equivalent to applying `operations` to `current` (the entity's JSON).

    400 for a malformed patch or one that changes a read-only member; 409 when it cannot be
    applied to the entity as it is (a failing `test`, a path that does not exist).
    """
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise BadRequest("a JSON Patch body is an array of operation objects (RFC 6902)")
    if len(operations) > MAX_OPERATIONS:
        raise BadRequest(f"a JSON Patch may hold at most {MAX_OPERATIONS} operations")
    try:
        patched = jsonpatch.JsonPatch(operations).apply(current)
    except jsonpatch.JsonPatchTestFailed as error:
        raise Conflict(f"JSON Patch: a test failed, nothing was changed: {error}") from None
    except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as error:
        raise Conflict(f"JSON Patch cannot be applied to this entity: {error}") from None
    except (jsonpatch.JsonPatchException, TypeError, ValueError, KeyError) as error:
        raise BadRequest(f"malformed JSON Patch: {error}") from None
    if not isinstance(patched, dict):
        raise BadRequest("a JSON Patch must leave the entity a JSON object")
    body: dict[str, Any] = {}
    for name in dict.fromkeys([*current, *patched]):
        if name in current and name in patched and patched[name] == current[name]:
            continue
        if _read_only(entity_type, name):
            raise BadRequest(f"JSON Patch: {name!r} is read-only", field=name)
        # a removed member is unset, as a PATCH sending null does
        body[name] = patched.get(name)
    return body


def _read_only(entity_type: EntityType, name: str) -> bool:
    if name.startswith("@iot.") or "@iot." in name:
        return True
    prop = entity_type.find_property(name)
    return prop is not None and prop.derived
