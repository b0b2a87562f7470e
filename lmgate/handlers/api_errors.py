"""Errors of the gateway's own API (/healthz, /lmgate/v1/...) as JSON, whatever raised them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from lmgate.stats.backend import RollupsUnavailable
from lmgate.stats.rebuilding import RollupsRebuilding

log = logging.getLogger("lmgate.api")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
}


def json_error(status: int, message: str, param: str | None = None) -> web.Response:
    """``{"error": {"message", "type"}}``, with ``param`` naming the bad field or parameter when one is."""
    error = {"message": message, "type": _TYPES.get(status, "api_error")}
    if param is not None:
        error["param"] = param
    return web.json_response({"error": error}, status=status)


def rollups_unavailable(e: RollupsRebuilding) -> web.Response:
    """503 for a read of the rollups while they are rebuilt, with the share done (``error.rebuilding.done``)."""
    message = f"lmgate: {e}; try again later"
    error = {"message": message, "type": "api_error", "rebuilding": {"done": round(e.done, 3), "failed": e.failed}}
    return web.json_response({"error": error}, status=503, headers={"Retry-After": "10"})


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own answers (404, 405, 413...) and any failure in a JSON body, never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return json_error(e.status, f"lmgate: {e.reason.lower()} ({request.method} {request.path[:200]})")
    except RollupsRebuilding as e:  # the rollups file is being rebuilt: with the share done
        return rollups_unavailable(e)
    except RollupsUnavailable as e:  # a shared usage store that does not answer: say which
        return json_error(503, f"lmgate: {e}")
    except Exception:
        log.exception("%s %s failed", request.method, request.path[:200])
        return json_error(500, "lmgate: internal error; the sidecar log has the details")
