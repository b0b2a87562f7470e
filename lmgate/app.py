"""make_app(config): the aiohttp sidecar with its background tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from lmgate import fastpath
from lmgate.app_keys import GATEWAY
from lmgate.config import Config
from lmgate.gateway import Gateway
from lmgate.handlers.api_errors import errors_as_json
from lmgate.routes import FAST_ROUTES, setup_routes


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Allow-list polling and stats flushing live as long as the app; shutdown flushes."""
    gw = app[GATEWAY]
    gw.dlp.ensure_started(gw.allowlist.current)
    gw.allowlist.on_change = gw.dlp.ensure_started
    reading = asyncio.create_task(gw.stats_intake.run())
    tasks = [asyncio.create_task(gw.allowlist.run()), asyncio.create_task(gw.writer.run()), reading]
    fast = await fastpath.serve(gw, gw.config.sidecar.host, gw.config.sidecar.fast_port, FAST_ROUTES)
    yield
    fast.close()
    reading.cancel()
    await gw.stats_intake.close()  # what nginx logged until now becomes lines before the writer's last flush
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await gw.policies.close()
    await gw.dlp.close()


def make_app(config: Config, gateway: Gateway | None = None) -> web.Application:
    # Request bodies reach /auth whole (DLP and model rules read them): allow the configured body limit.
    limit = int(config.server.max_body_size) + 65536
    app = web.Application(client_max_size=limit, middlewares=[errors_as_json])
    app[GATEWAY] = gateway or Gateway.from_config(config)
    app.cleanup_ctx.append(_background)
    setup_routes(app)
    return app
