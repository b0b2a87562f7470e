"""POST /stats: nginx's fire-and-forget report after a response. Always 204.

Whatever goes wrong while reading usage, a line is still written: usage may be
lost, the record of the request is not.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from multidict import CIMultiDict

from lmgate.fastpath import Reply
from lmgate.gateway import Gateway
from lmgate.handoff import CTX_HEADER, Handoff
from lmgate.stats.build import Exchange, exchange_record, facts, int_or_zero, refusal_record

log = logging.getLogger("lmgate.stats")
NO_CONTENT: Reply = (204, {}, b"")


async def stats(gw: Gateway, headers: CIMultiDict, body: bytes, args: dict[str, str]) -> Reply:
    try:
        ex = Exchange.from_headers(headers)
        route = gw.routes[ex.provider]
        record = exchange_record(ex, route.api, body, gw.prices)
        lease = ex.handoff.lease
    except Exception:  # a line must be written whatever the parser thinks of this body
        log.exception("stats: could not read usage of request %s", headers.get("X-Lmgate-Request-Id"))
        handoff = Handoff.decode(headers.get(CTX_HEADER, ""))
        record = refusal_record(
            route=headers.get("X-Lmgate-Provider", ""),
            handoff=handoff,
            status=int_or_zero(facts(headers)["status"]),
            error_type="stats_error",
            request_id=headers.get("X-Lmgate-Request-Id", ""),
            now=time.time(),
        )
        lease = handoff.lease
    gw.writer.write(record)
    if lease and record.key_id:
        # tokens into tpm, cost into budgets, and the max_parallel slot back (also after a disconnect)
        tokens = (record.input_tokens or 0) + (record.output_tokens or 0)
        await gw.policies.record_usage(record.key_id, record.owner, tokens, record.cost_usd, time.time(), lease)
    return NO_CONTENT


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
