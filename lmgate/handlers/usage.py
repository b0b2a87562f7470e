"""GET /lmgate/v1/usage: requests, tokens and cost from the rollups, for a key (its own) or an admin (all)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from lmgate.app_keys import GATEWAY
from lmgate.handlers.api_errors import json_error
from lmgate.handlers.callers import caller
from lmgate.handlers.query_params import checked_params
from lmgate.stats.rollups import GROUPS
from lmgate.usage_report import QueryError, parse_range

PARAMS = ("since", "until", "group_by", "key_id", "owner", "key")  # key: the caller's key, as Gemini sends it
ADMIN_PARAMS = ("key_id", "owner")


async def usage(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    who = caller(request)
    if isinstance(who, web.Response):
        return who
    is_admin, entry = who.is_admin, who.entry
    now = time.time()
    try:
        q = _query(request, is_admin)
        since, until = parse_range(q.get("since", "7d"), q.get("until"), now)
    except QueryError as e:
        return json_error(400, f"lmgate: {e}")
    group_by = [g for g in q.get("group_by", "model").split(",") if g]
    key_id = entry.id if entry is not None else q.get("key_id")
    owner = None if entry is not None else q.get("owner")
    rollups = gw.rollups.store  # RollupsRebuilding: a 503 from errors_as_json
    rows = await asyncio.to_thread(rollups.query, since, until, group_by, key_id, owner)
    return web.json_response(
        {
            "since": since,
            "until": now if until is None else until,
            "group_by": group_by,
            "scope": "all" if is_admin else "key",
            "rows": rows,
        }
    )


def _query(request: web.Request, is_admin: bool) -> dict[str, str]:
    """The query's parameters, each known, given once and not empty; QueryError names the first that is not."""
    q = checked_params(request, PARAMS, ADMIN_PARAMS, is_admin, "usage")
    for name in ADMIN_PARAMS:
        if name in q and not q[name]:
            raise QueryError(name, "empty; leave it out to see everyone's")
    unknown = [g for g in q.get("group_by", "model").split(",") if g and g not in GROUPS]
    if unknown:
        raise QueryError("group_by", f"unknown {', '.join(g[:64] for g in unknown)}; choose from {', '.join(GROUPS)}")
    return q
