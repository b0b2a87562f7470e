"""The sidecar's route table."""

from aiohttp import web

from lmgate.handlers.auth import auth, body
from lmgate.handlers.stats import healthz, stats
from lmgate.handlers.usage import usage


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/auth", auth)
    app.router.add_post("/stats", stats)
    app.router.add_get("/body", body)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/lmgate/v1/usage", usage)
