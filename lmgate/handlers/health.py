"""GET /healthz: the sidecar answers (nginx's /lmgate/healthz and compose's health check ask it)."""

from __future__ import annotations

from aiohttp import web


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
