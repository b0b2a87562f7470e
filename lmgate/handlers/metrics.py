"""GET /metrics (the sidecar's API port, no auth: the conventional scrape target on 127.0.0.1) and
GET /lmgate/metrics (through nginx: only with ``Authorization: Bearer <api.admin_token>``)."""

from __future__ import annotations

import hmac

from aiohttp import web

from lmgate.app_keys import GATEWAY
from lmgate.handlers.api_errors import json_error


async def metrics(request: web.Request) -> web.Response:
    body, content_type = await request.app[GATEWAY].metrics.exposition(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


async def admin_metrics(request: web.Request) -> web.Response:
    admin = request.app[GATEWAY].config.api.admin_token
    if admin is None:
        return json_error(404, "lmgate: metrics through the gateway need api.admin_token in the config")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), admin.encode()):
        return json_error(401, "lmgate: send the admin token as Authorization: Bearer")
    return await metrics(request)
