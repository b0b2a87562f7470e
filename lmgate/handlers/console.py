"""GET /lmgate/v1/console/...: the JSON behind the web console (/lmgate/ui/), with the usage API's auth rules.

The admin token sees everything (and may filter by ``owner`` or ``key_id``); a
gateway key sees its own key only. Handlers read their parameters, then run a
query of ``lmgate/console/`` in a worker thread.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from lmgate.app_keys import GATEWAY
from lmgate.console import allowed, queries
from lmgate.console.queries import BY, SPEND_METRICS, Scope
from lmgate.console.timeline import STEPS
from lmgate.handlers.api_errors import json_error
from lmgate.handlers.callers import Caller, NotAllowed, identify
from lmgate.handlers.query_params import checked_params
from lmgate.usage_report import QueryError, parse_range

ADMIN_FILTERS = ("key_id", "owner")
COMMON = ("key",)  # the caller's key, as Gemini sends it
RANGE = ("since", "until", "step")
PAGE = ("limit", "offset")
MAX_PAGE = 500
DEFAULT_SINCE = "7d"

Handler = Callable[[web.Request, Caller, dict[str, str]], Awaitable[web.StreamResponse]]


def _json(data: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), content_type="application/json", headers=_NO_STORE
    )


_NO_STORE = {"Cache-Control": "no-store"}


def endpoint(params: tuple[str, ...]) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """A console handler: the caller identified (401 JSON if not), the query's parameters checked (400 JSON
    naming the first bad one: unknown, repeated, empty, or an admin filter from a key)."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        known = (*params, *ADMIN_FILTERS, *COMMON)

        async def run(request: web.Request) -> web.StreamResponse:
            try:
                caller = identify(request)
            except NotAllowed as e:
                return json_error(e.status, str(e))
            try:
                q = _checked(request, caller, known)
                return await handler(request, caller, q)
            except QueryError as e:
                return json_error(400, f"lmgate: {e}")

        return run

    return wrap


def _checked(request: web.Request, caller: Caller, known: tuple[str, ...]) -> dict[str, str]:
    return checked_params(
        request, known, ADMIN_FILTERS, caller.is_admin, "data", empty="empty; leave it out for the default"
    )


def _scope(caller: Caller, q: dict[str, str]) -> Scope:
    if not caller.is_admin:
        return Scope(key_id=caller.key_id)
    return Scope(key_id=q.get("key_id"), owner=q.get("owner"))


def _choice(q: dict[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = q.get(name, default)
    if value not in choices:
        raise QueryError(name, f"{value[:64]!r} is not one of {', '.join(choices)}")
    return value


def _int(q: dict[str, str], name: str, default: int, high: int) -> int:
    value = q.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) > high:
        raise QueryError(name, f"{value[:64]!r} is not a whole number from 0 to {high}")
    return int(value)


def _range(q: dict[str, str], now: float) -> tuple[float, float]:
    since, until = parse_range(q.get("since", DEFAULT_SINCE), q.get("until"), now)
    return since, now if until is None else until


def _step(q: dict[str, str], choices: tuple[str, ...] = STEPS) -> Any:
    return _choice(q, "step", choices, "day")


async def _run(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """A query in a worker thread; its ValueError (a range too long for its step) is a 400 naming ``step``."""
    try:
        return await asyncio.to_thread(fn, *args, **kw)
    except ValueError as e:
        raise QueryError("step", str(e)) from None


@endpoint(())
async def whoami(request: web.Request, caller: Caller, q: dict[str, str]) -> web.Response:
    entry = caller.entry
    return _json(
        {
            "scope": "all" if caller.is_admin else "key",
            "key_id": None if entry is None else entry.id,
            "owner": None if entry is None else entry.owner,
        }
    )


@endpoint(())
async def overview(request: web.Request, caller: Caller, q: dict[str, str]) -> web.Response:
    gw = request.app[GATEWAY]
    return _json(await _run(queries.overview, gw.rollups.store, _scope(caller, q), time.time()))


@endpoint((*RANGE, "by", "metric", "format", *PAGE))
async def spend(request: web.Request, caller: Caller, q: dict[str, str]) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    since, until = _range(q, time.time())
    by = _choice(q, "by", BY, "owner")
    metric = _choice(q, "metric", SPEND_METRICS, "cost_usd")
    fmt = _choice(q, "format", ("json", "csv"), "json")
    limit, offset = _int(q, "limit", 50, MAX_PAGE), _int(q, "offset", 0, 10**9)
    data = await _run(queries.spend, gw.rollups.store, _scope(caller, q), since, until, _step(q), by, metric)
    if fmt == "csv":
        return _csv(data["rows"], by, since, until)
    rows = data["rows"]
    data.update(rows=rows[offset : offset + limit], total_rows=len(rows), limit=limit, offset=offset)
    return _json(data)


def _csv(rows: list[dict], by: str, since: float, until: float) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = (by, *queries.TABLE_COLUMNS)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    day = lambda t: datetime.fromtimestamp(t, UTC).strftime("%Y%m%d")  # noqa: E731
    name = f"lmgate-spend-by-{by}-{day(since)}-{day(until)}.csv"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={**_NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def _cell(value: Any) -> Any:
    """A CSV cell; text a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


@endpoint(())
async def budgets(request: web.Request, caller: Caller, q: dict[str, str]) -> web.Response:
    gw = request.app[GATEWAY]
    gw.rollups.store  # noqa: B018 - RollupsRebuilding (503) while cold budgets cannot be read
    snapshot = await gw.headroom.snapshot()
    rows = allowed.budgets(snapshot.uses, snapshot.at, _scope(caller, q).key_id)
    owner = q.get("owner")
    if owner is not None:
        rows = [b for b in rows if b["owner"] == owner]
    return _json({"at": snapshot.at, "error": snapshot.error, "rows": rows})


@endpoint(PAGE)
async def keys(request: web.Request, caller: Caller, q: dict[str, str]) -> web.Response:
    gw = request.app[GATEWAY]
    limit, offset = _int(q, "limit", 50, MAX_PAGE), _int(q, "offset", 0, 10**9)
    scope = _scope(caller, q)
    entries = [e for e in gw.allowlist.current.by_hash.values() if scope.owner is None or e.owner == scope.owner]
    rows = await _run(allowed.keys, entries, gw.rollups.store, gw.config.dlp.mode, time.time(), scope.key_id)
    return _json({"total": len(rows), "limit": limit, "offset": offset, "rows": rows[offset : offset + limit]})


@endpoint((*RANGE, "provider", "model"))
async def latency(request: web.Request, caller: Caller, q: dict[str, str]) -> web.Response:
    gw = request.app[GATEWAY]
    since, until = _range(q, time.time())
    step = _step(q, ("hour", "day"))
    args = (gw.rollups.store, _scope(caller, q), since, until, step, q.get("provider"), q.get("model"))
    return _json(await _run(queries.latency, *args))


@endpoint(RANGE)
async def refusals(request: web.Request, caller: Caller, q: dict[str, str]) -> web.Response:
    gw = request.app[GATEWAY]
    since, until = _range(q, time.time())
    return _json(await _run(queries.refusals, gw.rollups.store, _scope(caller, q), since, until, _step(q)))


@endpoint(PAGE)
async def recent_refusals(request: web.Request, caller: Caller, q: dict[str, str]) -> web.Response:
    gw = request.app[GATEWAY]
    limit, offset = _int(q, "limit", 50, MAX_PAGE), _int(q, "offset", 0, 10**9)
    return _json(await _run(queries.recent_refusals, gw.rollups.store, _scope(caller, q), limit, offset))


ROUTES: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
    "whoami": whoami,
    "overview": overview,
    "spend": spend,
    "budgets": budgets,
    "keys": keys,
    "latency": latency,
    "refusals": refusals,
    "refusals/recent": recent_refusals,
}
