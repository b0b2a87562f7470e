"""The sidecar's route tables: the per-request fast path (its own TCP port) and the gateway's own API (aiohttp)."""

from aiohttp import web

from lmgate.fastpath import Handler
from lmgate.handlers import console
from lmgate.handlers.auth import auth, replacement_body
from lmgate.handlers.health import healthz
from lmgate.handlers.metrics import admin_metrics, metrics
from lmgate.handlers.usage import usage

FAST_ROUTES: dict[bytes, Handler] = {b"/auth": auth, b"/body": replacement_body}


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/lmgate/v1/usage", usage)
    app.router.add_get("/metrics", metrics)  # Prometheus, on 127.0.0.1 (lmgate/metrics/)
    app.router.add_get("/lmgate/metrics", admin_metrics)  # the same through nginx, for the admin token
    for path, handler in console.ROUTES.items():  # the web console's JSON (lmgate/console/)
        app.router.add_get(f"/lmgate/v1/console/{path}", handler)
