"""GET /lmgate/v1/usage: requests, tokens and cost from the rollups, for a key (its own) or an admin (all)."""

from __future__ import annotations

import asyncio
import hmac
import time

from aiohttp import web

from lmgate.app_keys import GATEWAY
from lmgate.keys import extract_key
from lmgate.stats.rollups import GROUPS
from lmgate.usage_report import parse_since

# every place an SDK may send its key; the caller is whichever client it is
KEY_SOURCES = ("authorization", "x-api-key", "x-goog-api-key", "api-key", "?key")


def error_response(status: int, message: str) -> web.Response:
    kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}.get(status, "api_error")
    return web.json_response({"error": {"message": message, "type": kind}}, status=status)


async def usage(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = extract_key(request.headers, request.query_string, KEY_SOURCES)
    if key is None:
        return error_response(401, "lmgate: send your API key (or the admin token) as Authorization: Bearer")
    admin = gw.config.api.admin_token
    is_admin = admin is not None and hmac.compare_digest(key.encode(), admin.encode())
    entry = None if is_admin else gw.allowlist.current.lookup(key)
    if not is_admin and entry is None:
        return error_response(401, "lmgate: this key is not on the gateway's allow-list")
    q = request.query
    group_by = [g for g in q.get("group_by", "model").split(",") if g]
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        return error_response(400, f"lmgate: unknown group_by {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    now = time.time()
    try:
        since = parse_since(q.get("since", "7d"), now)
        until = parse_since(q["until"], now) if "until" in q else None
    except ValueError as e:
        return error_response(400, f"lmgate: {e}")
    key_id = entry.id if entry is not None else q.get("key_id")
    owner = None if entry is not None else q.get("owner")
    rows = await asyncio.to_thread(gw.rollups.query, since, until, group_by, key_id, owner)
    return web.json_response(
        {
            "since": since,
            "until": until or now,
            "group_by": group_by,
            "scope": "all" if is_admin else "key",
            "rows": rows,
        }
    )
