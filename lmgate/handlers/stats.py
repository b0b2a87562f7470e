"""POST /stats: nginx's fire-and-forget report after a response. Always 204.

Whatever goes wrong while reading usage, a line is still written: usage may be
lost, the record of the request is not.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from lmgate.app_keys import GATEWAY
from lmgate.handoff import CTX_HEADER, Handoff
from lmgate.stats.build import Exchange, exchange_record, refusal_record

log = logging.getLogger("lmgate.stats")


async def stats(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    body = await request.read()
    try:
        ex = Exchange.from_headers(request.headers)
        route = gw.routes[ex.provider]
        record = exchange_record(ex, route.api, body, gw.prices)
    except Exception:  # a line must be written whatever the parser thinks of this body
        log.exception("stats: could not read usage of request %s", request.headers.get("X-Lmgate-Request-Id"))
        record = refusal_record(
            route=request.headers.get("X-Lmgate-Provider", ""),
            handoff=Handoff.decode(request.headers.get("X-Lmgate-Ctx", "")),
            status=int(request.headers.get("X-Lmgate-Status", "0") or 0),
            error_type="stats_error",
            request_id=request.headers.get("X-Lmgate-Request-Id", ""),
            now=time.time(),
        )
    gw.writer.write(record)
    lease = request.headers.get(CTX_HEADER) and Handoff.decode(request.headers[CTX_HEADER]).lease
    if lease and record.key_id:
        # tokens into tpm, cost into budgets, and the max_parallel slot back (also after a disconnect)
        tokens = (record.input_tokens or 0) + (record.output_tokens or 0)
        await gw.policies.record_usage(record.key_id, record.owner, tokens, record.cost_usd, time.time(), lease)
    return web.Response(status=204)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
