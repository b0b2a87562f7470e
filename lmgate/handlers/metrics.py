"""GET /metrics (the sidecar's API port, no auth: the conventional scrape target on 127.0.0.1) and
GET /lmgate/metrics (through nginx: only with ``Authorization: Bearer <api.admin_token>``)."""

from __future__ import annotations

from aiohttp import web

from lmgate.app_keys import GATEWAY
from lmgate.handlers.callers import admin_refusal


async def metrics(request: web.Request) -> web.Response:
    body, content_type = await request.app[GATEWAY].metrics.exposition(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


async def admin_metrics(request: web.Request) -> web.Response:
    return admin_refusal(request, "metrics through the gateway") or await metrics(request)
