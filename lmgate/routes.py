"""The sidecar's route tables: the per-request fast path (its own TCP port) and the gateway's own API (aiohttp)."""

from aiohttp import web

from lmgate.fastpath import Handler
from lmgate.handlers import console
from lmgate.handlers.auth import auth, replacement_body
from lmgate.handlers.health import healthz
from lmgate.handlers.keys import create_key, list_keys, revoke_key, rotate_key, show_key, update_key
from lmgate.handlers.metrics import admin_metrics, metrics
from lmgate.handlers.models import models
from lmgate.handlers.usage import usage

FAST_ROUTES: dict[bytes, Handler] = {b"/auth": auth, b"/body": replacement_body}


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/lmgate/v1/usage", usage)
    app.router.add_get("/lmgate/v1/models", models)  # the models a key may use, priced
    # key lifecycle, admin token only (lmgate/keyring/)
    app.router.add_get("/lmgate/v1/keys", list_keys)
    app.router.add_post("/lmgate/v1/keys", create_key)
    app.router.add_get("/lmgate/v1/keys/{id}", show_key)
    app.router.add_patch("/lmgate/v1/keys/{id}", update_key)
    app.router.add_delete("/lmgate/v1/keys/{id}", revoke_key)
    app.router.add_post("/lmgate/v1/keys/{id}/rotate", rotate_key)
    app.router.add_get("/metrics", metrics)  # Prometheus, on 127.0.0.1 (lmgate/metrics/)
    app.router.add_get("/lmgate/metrics", admin_metrics)  # the same through nginx, for the admin token
    for path, handler in console.ROUTES.items():  # the web console's JSON (lmgate/console/)
        app.router.add_get(f"/lmgate/v1/console/{path}", handler)
