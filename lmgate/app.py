"""make_app(config): the aiohttp sidecar with its background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator

from aiohttp import web

from lmgate import fastpath
from lmgate.app_keys import GATEWAY
from lmgate.config import Config
from lmgate.expiry import warn_expiring
from lmgate.gateway import Gateway
from lmgate.handlers.api_errors import errors_as_json
from lmgate.routes import FAST_ROUTES, setup_routes
from lmgate.stats.rebuilding import LiveRollups

log = logging.getLogger("lmgate")


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Allow-list polling and stats flushing live as long as the app; shutdown flushes."""
    gw = app[GATEWAY]
    gw.dlp.ensure_started(gw.allowlist.current)
    gw.allowlist.on_change = gw.dlp.ensure_started
    reading = asyncio.create_task(gw.stats_intake.run(), name="stats spool reader")
    tasks = [
        asyncio.create_task(gw.allowlist.run(), name="allow-list poller"),
        asyncio.create_task(gw.writer.run(), name="stats writer"),
        reading,
        asyncio.create_task(warn_expiring(lambda: _expiries(gw)), name="expiry warnings"),
        asyncio.create_task(_rollups_upkeep(gw.rollups), name="rollups upkeep"),
    ]
    for task in tasks:
        task.add_done_callback(stop_if_it_ends)
    if gw.alerts.enabled:  # webhook notifications (lmgate/alerts/)
        tasks.append(asyncio.create_task(gw.alerts.run(), name="alerts sender"))
        tasks[-1].add_done_callback(stop_if_it_ends)
    fast = await _serve_fast(gw)
    if isinstance(fast, fastpath.UnixServer):
        tasks.append(asyncio.create_task(fast.watch(), name="fast path socket watch"))
        tasks[-1].add_done_callback(stop_if_it_ends)
    yield
    for task in tasks:  # from here on they end because we stop
        task.remove_done_callback(stop_if_it_ends)
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
    await asyncio.to_thread(gw.rollups.stop)  # a rebuild running or due to retry is stopped (the next start redoes it)


async def _serve_fast(gw: Gateway) -> asyncio.AbstractServer | fastpath.UnixServer:
    """/auth and /body: on the Unix socket, or on TCP when ``sidecar.fast_port`` is set."""
    sidecar = gw.config.sidecar
    if sidecar.fast_port is not None:
        return await fastpath.serve(gw, sidecar.host, sidecar.fast_port, FAST_ROUTES)
    return await fastpath.serve_unix(gw, gw.config.fast_socket(), FAST_ROUTES)


async def _rollups_upkeep(rollups: LiveRollups, every: float = 1.0) -> None:
    """Off the event loop: a shared store counts what it missed (at start, after an outage); a failed rebuild of
    the rollups file is tried again when its delay is over (``LiveRollups.maintain``)."""
    while True:
        try:
            await asyncio.to_thread(rollups.maintain)
        except Exception:  # a bug here must not stop the sidecar: the lines wait in the JSONL
            log.exception("rollups upkeep failed; trying again")
        await asyncio.sleep(every)


def _expiries(gw: Gateway) -> Iterator[tuple[str, str, float | None]]:
    return ((e.id, e.owner, e.expires_at) for e in gw.allowlist.current.entries())


def stop_if_it_ends(task: asyncio.Task) -> None:
    """A background task runs until shutdown cancels it. One that ends by itself would leave a sidecar that
    answers /auth but no longer reads stats (or reloads the allow-list): stop the process instead (SIGTERM:
    what can be flushed is), so that the supervisor (``lmgate up``) starts a fresh one."""
    if task.cancelled():
        return
    log.critical("sidecar: the %s ended (%r); stopping, to be restarted", task.get_name(), task.exception())
    os.kill(os.getpid(), signal.SIGTERM)


def make_app(config: Config, gateway: Gateway | None = None) -> web.Application:
    # Request bodies reach /auth whole (DLP and model rules read them): allow the configured body limit.
    limit = int(config.server.max_body_size) + 65536
    app = web.Application(client_max_size=limit, middlewares=[errors_as_json])
    app[GATEWAY] = gateway or Gateway.from_config(config)
    app.cleanup_ctx.append(_background)
    setup_routes(app)
    return app
