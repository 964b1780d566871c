"""SensorThings `$batch` in the OData 4.01 JSON format, with atomicity groups.

Each request runs through `dispatch.handle` like a plain HTTP request; the requests of one
`atomicityGroup` share one transaction (all or nothing), and `$<id>` in a later URL or
`@iot.id` refers to the entity an earlier request created.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from cityhelix.auth.principal import Principal
from cityhelix.hub import service
from cityhelix.hub.dispatch import (
    JSON_PATCH,
    VERSION_PATH,
    Context,
    JsonPatch,
    Reply,
    creatable_together,
    handle,
    handle_posts_together,
)
from cityhelix.hub.errors import BadRequest, HubError, UnsupportedMediaType

MAX_REQUESTS = 1000
_REFERENCE = re.compile(r"^\$([A-Za-z0-9_.-]+)")
#: a `$`-reference at the start of a JSON string (a URL or an `@iot.id`)
_QUOTED_REFERENCE = re.compile(r'"\$([A-Za-z0-9_.-]+)')


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"code": status, "type": "error", "message": message})


def _requests(body: object) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise BadRequest('a JSON $batch body is {"requests": [...]}', field="requests")
    requests: list[dict[str, Any]] = body["requests"]
    if len(requests) > MAX_REQUESTS:
        raise BadRequest(f"a $batch holds at most {MAX_REQUESTS} requests", field="requests")
    seen: set[str] = set()
    groups: set[str] = set()
    for index, item in enumerate(requests):
        if not isinstance(item, dict):
            raise BadRequest(f"requests[{index}]: expected an object", field="requests")
        for key in ("id", "method", "url"):
            if not isinstance(item.get(key), str):
                raise BadRequest(f"requests[{index}]: {key!r} must be a string", field=key)
        if item["id"] in seen:
            raise BadRequest(f"requests[{index}]: id {item['id']!r} is used twice", field="id")
        _check_depends_on(item, index, seen | groups)
        seen.add(item["id"])
        if isinstance(item.get("atomicityGroup"), str):
            groups.add(item["atomicityGroup"])
        if item["method"].upper() not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            raise BadRequest(
                f"requests[{index}]: unknown method {item['method']!r}", field="method"
            )
    return requests


def _check_depends_on(item: dict[str, Any], index: int, earlier: set[str]) -> None:
    """`dependsOn` names earlier requests or atomicity groups only (OData 4.01 §19.1.2):
    the requests run in order, so a later one or a cycle could never be satisfied."""
    depends = item.get("dependsOn")
    if depends is None:
        return
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        raise BadRequest(
            f"requests[{index}]: dependsOn must be an array of request ids", field="dependsOn"
        )
    for name in depends:
        if name not in earlier:
            raise BadRequest(
                f"requests[{index}]: dependsOn names {name!r}, which is not an earlier "
                "request or atomicity group of this batch",
                field="dependsOn",
            )


def _resolve(text: str, created: dict[str, str], base: str) -> str:
    """`$thing1/Datastreams` -> `Things(7)/Datastreams` after request `thing1` made Thing 7."""
    match = _REFERENCE.match(text)
    if match and match.group(1) in created:
        text = created[match.group(1)] + text[match.end() :]
    if text.startswith(base):
        text = text[len(base) :]
    path = urlsplit(text).path
    if path.startswith(VERSION_PATH):
        text = text[len(VERSION_PATH) :]
    return text.lstrip("/")


def _resolve_body(value: Any, created: dict[str, str]) -> Any:
    if isinstance(value, dict):
        reference = value.get("@iot.id")
        if isinstance(reference, str) and reference.startswith("$"):
            target = created.get(reference[1:])
            match = re.search(r"\((\d+)\)$", target or "")
            if match is None:
                raise BadRequest(f"@iot.id {reference!r} refers to no entity created earlier")
            value = {**value, "@iot.id": int(match.group(1))}
        return {k: _resolve_body(v, created) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_body(v, created) for v in value]
    return value


async def run_batch(ctx: Context, principal: Principal, body: object) -> dict[str, Any]:
    """Answer a JSON $batch: one response per request, in request order."""
    requests = _requests(body)
    created: dict[str, str] = {}  # request id -> "Set(id)" of what it created
    failed: set[str] = set()
    responses: list[dict[str, Any]] = []
    index = 0
    while index < len(requests):
        group = requests[index].get("atomicityGroup")
        members = [requests[index]]
        index += 1
        while (
            group is not None
            and index < len(requests)
            and requests[index].get("atomicityGroup") == group
        ):
            members.append(requests[index])
            index += 1
        if group is None:
            reply = await _one(ctx, principal, members[0], created, failed, None)
            responses.append(_item(members[0], reply))
            continue
        responses.extend(await _atomic(ctx, principal, members, created, failed))
    return {"responses": responses}


async def _atomic(
    ctx: Context,
    principal: Principal,
    members: list[dict[str, Any]],
    created: dict[str, str],
    failed: set[str],
) -> list[dict[str, Any]]:
    replies: list[Reply] = []
    made: dict[str, str] = {}
    try:
        # the group's writes are recorded and announced once, at its commit (hub.changes)
        async with service.group_transaction(ctx.engine, ctx.bus) as (connection, _log):
            index = 0
            while index < len(members):
                run = _plain_posts(ctx, members, index, created | made)
                if len(run) > 1:
                    together = await _posts_together(ctx, principal, run, connection)
                    answered = list(zip(members[index : index + len(run)], together, strict=True))
                else:
                    member = members[index]
                    reply = await _one(ctx, principal, member, created | made, failed, connection)
                    answered = [(member, reply)]
                for member, reply in answered:
                    if reply.status >= 400:
                        raise _GroupFailed(reply)
                    replies.append(reply)
                    location = reply.headers.get("Location")
                    if location:
                        made[member["id"]] = location.rsplit("/", 1)[-1]
                index += len(answered)
    except _GroupFailed as failure:
        failed.update(m["id"] for m in members)
        failed.add(str(members[0].get("atomicityGroup")))
        return [_item(m, failure.reply) for m in members]
    created.update(made)
    return [_item(m, r) for m, r in zip(members, replies, strict=True)]


def _plain_posts(
    ctx: Context, members: list[dict[str, Any]], start: int, created: dict[str, str]
) -> list[tuple[str, object, str]]:
    """The POSTs from `members[start]` on that may be written together: plain Observations
    (`dispatch.creatable_together`) with JSON bodies and no `$`-reference to a request
    among them (its id is not known before their insert)."""
    run: list[tuple[str, object, str]] = []
    inside: set[str] = set()
    for member in members[start:]:
        if member["method"].upper() != "POST" or member.get("dependsOn"):
            break
        headers = member.get("headers")
        if headers and any(str(k).lower() == "content-type" for k in headers):
            try:
                if _media_type(member, "POST") != "application/json":
                    break
            except HubError:
                break
        text = orjson.dumps([member["url"], member.get("body")]).decode()
        if inside.intersection(_QUOTED_REFERENCE.findall(text)):
            break
        try:
            target = _resolve(member["url"], created, ctx.base)
            body = _resolve_body(member.get("body"), created)
        except HubError:
            break
        resource, _, query = target.partition("?")
        if query or not creatable_together(resource, body):
            break
        run.append((resource, body, f"{VERSION_PATH}/$batch#{member['id']}"))
        inside.add(member["id"])
    return run


async def _posts_together(
    ctx: Context, principal: Principal, run: list[tuple[str, object, str]], connection: Any
) -> list[Reply]:
    """The replies of `run` written together; a refused one's error as the reply of each
    (the group fails whole)."""
    try:
        return await handle_posts_together(ctx, principal, run, connection)
    except HubError as error:
        return [_error(error.status, error.message)] * len(run)


class _GroupFailed(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


async def _one(
    ctx: Context,
    principal: Principal,
    request: dict[str, Any],
    created: dict[str, str],
    failed: set[str],
    connection: Any,
) -> Reply:
    depends = request.get("dependsOn") or []
    if any(d in failed for d in depends):
        failed.add(request["id"])
        return _error(424, f"a request it depends on ({', '.join(depends)}) failed")
    method = request["method"].upper()
    try:
        target = _resolve(request["url"], created, ctx.base)
        resource, _, query = target.partition("?")
        body = _resolve_body(request.get("body"), created)
        if _media_type(request, method) == JSON_PATCH:
            body = JsonPatch(body)
        reply = await handle(
            ctx,
            principal,
            method,
            resource,
            dict(parse_qsl(query, keep_blank_values=True)),
            body,
            f"{VERSION_PATH}/$batch#{request['id']}",
            connection,
        )
    except HubError as error:
        reply = _error(error.status, error.message)
    if reply.status >= 400:
        failed.add(request["id"])
    elif "Location" in reply.headers and connection is None:
        created[request["id"]] = reply.headers["Location"].rsplit("/", 1)[-1]
    return reply


def _media_type(request: dict[str, Any], method: str) -> str:
    """The media type of a request's body, from its `headers` (415 for one not taken),
    as `api.body_media_type` decides it for a plain HTTP request."""
    headers = request.get("headers")
    declared = None
    if isinstance(headers, dict):
        declared = next((v for k, v in headers.items() if str(k).lower() == "content-type"), None)
    accepted = ("application/json", JSON_PATCH) if method == "PATCH" else ("application/json",)
    if not isinstance(declared, str) or "body" not in request:
        return accepted[0]
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type not in accepted:
        raise UnsupportedMediaType(
            f"{method} takes a body of {' or '.join(accepted)}, not {media_type}"
        )
    return media_type


def _item(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    item: dict[str, Any] = {"id": request["id"], "status": reply.status}
    if reply.headers:
        item["headers"] = {k.lower(): v for k, v in reply.headers.items()}
    if reply.body is not None:
        item["body"] = reply.body
    return item
