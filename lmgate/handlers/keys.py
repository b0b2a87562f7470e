"""The admin API for keys, /lmgate/v1/keys (admin token only, JSON): thin over lmgate.keyring.

``GET`` the list, ``GET /{id}``, ``POST`` create (the answer holds the key, once),
``POST /{id}/rotate`` (``{"grace": "24h"}``), ``PATCH /{id}``, ``DELETE /{id}``.
Each change is the CLI's transaction (lock, check with the gateway's parser,
audit, atomic replace), run off the event loop; this sidecar then reloads the
file at once, other gateways within their reload interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from lmgate.app_keys import GATEWAY
from lmgate.expiry import parse_duration
from lmgate.handlers.api_errors import json_error
from lmgate.handlers.callers import admin_refusal
from lmgate.keyring import DEFAULT_GRACE, FieldError, KeyRing, KeyRingError, admin_actor
from lmgate.request_json import AmbiguousJson, parse_object

MAX_BODY = 64 * 1024
WHAT = "the keys API"


async def list_keys(request: web.Request) -> web.Response:
    return await _answer(request, lambda ring, actor: {"keys": ring.list()}, body=False)


async def show_key(request: web.Request) -> web.Response:
    return await _answer(request, lambda ring, actor: ring.show(_id(request)), body=False)


async def create_key(request: web.Request) -> web.Response:
    def create(ring: KeyRing, actor: str, doc: dict[str, Any]) -> dict[str, Any]:
        if "id" not in doc:
            raise FieldError("id", "required")
        view, key = ring.create(actor, doc.pop("id"), doc)
        return {**view, "key": key}  # the only time the key is shown

    return await _answer(request, create, status=201)


async def update_key(request: web.Request) -> web.Response:
    def update(ring: KeyRing, actor: str, doc: dict[str, Any]) -> dict[str, Any]:
        if not doc:
            raise FieldError("body", "no field to change")
        return ring.update(actor, _id(request), doc)

    return await _answer(request, update)


async def rotate_key(request: web.Request) -> web.Response:
    def rotate(ring: KeyRing, actor: str, doc: dict[str, Any]) -> dict[str, Any]:
        unknown = [name for name in doc if name != "grace"]
        if unknown:
            raise FieldError(unknown[0][:64], 'unknown field; rotate takes grace (e.g. "24h", 0: none)')
        view, key = ring.rotate(actor, _id(request), _grace(doc.get("grace")))
        return {**view, "key": key}

    return await _answer(request, rotate, optional_body=True)


async def revoke_key(request: web.Request) -> web.Response:
    return await _answer(request, lambda ring, actor: {"revoked": ring.revoke(actor, _id(request))}, body=False)


def _id(request: web.Request) -> str:
    return request.match_info["id"]


def _grace(value: object) -> int:
    if value is None:
        return DEFAULT_GRACE
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as e:
            raise FieldError("grace", str(e)) from None
    raise FieldError("grace", 'a duration ("24h", "30m") or seconds')


async def _answer(
    request: web.Request,
    operation: Callable[..., dict[str, Any]],
    *,
    status: int = 200,
    body: bool = True,
    optional_body: bool = False,
) -> web.Response:
    refused = admin_refusal(request, WHAT)
    if refused is not None:
        return refused
    gw = request.app[GATEWAY]
    actor = admin_actor(gw.config.api.admin_token or "")
    try:
        if request.query:
            raise FieldError(next(iter(request.query))[:64], "unknown parameter; the keys API takes a JSON body")
        args: tuple[Any, ...] = (KeyRing.from_config(gw.config), actor)
        if body:
            args += (await _json_body(request, optional_body),)
        answer = await asyncio.to_thread(operation, *args)
    except FieldError as e:
        return json_error(400, f"lmgate: {e}", e.field)
    except KeyRingError as e:
        return json_error(e.status, f"lmgate: {e}")
    if request.method != "GET":
        gw.allowlist.check()  # this sidecar applies the change now; others at their next poll
    return web.json_response(answer, status=status)


async def _json_body(request: web.Request, optional: bool) -> dict[str, Any]:
    data = await request.content.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise FieldError("body", f"larger than {MAX_BODY} bytes")
    if optional and not data.strip():
        return {}
    try:
        doc = parse_object(data)
    except AmbiguousJson as e:
        raise FieldError("body", f"a field is given twice ({e})") from None
    if doc is None:
        raise FieldError("body", "must be a JSON object")
    return doc
