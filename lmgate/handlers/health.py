"""GET /healthz: 200 once the gateway can judge every request, 503 until then (nginx's /lmgate/healthz and
compose's health check ask it).

The allow-list is loaded before the sidecar answers at all; what can lag is the DLP scanner, which starts in
the background once some key needs it (at start-up, or when an allow-list edit asks for DLP). A rollups
rebuild (``stats/rebuilding.py``) leaves every request judged, so it is only said in the body.
"""

from __future__ import annotations

from aiohttp import web

from lmgate.app_keys import GATEWAY
from lmgate.errors import generic_error


async def healthz(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    waiting = gw.dlp.not_ready()
    if waiting is None:  # a rollups rebuild does not stop requests: said, not failed
        return web.Response(
            text=f"ok; rollups rebuilding ({gw.rollups.progress:.0%} read)" if gw.rollups.rebuilding else "ok"
        )
    body = generic_error(503, f"lmgate: not ready: {waiting}")
    return web.Response(status=503, body=body, content_type="application/json", headers={"Retry-After": "1"})
