"""POST /stats: nginx's fire-and-forget report after a response. Always 204, at once.

The line is built a moment later, with the others that arrived meanwhile
(``lmgate/stats/intake.py``), so the post never delays the next /auth.
"""

from __future__ import annotations

import time

from aiohttp import web
from multidict import CIMultiDict

from lmgate.fastpath import Reply
from lmgate.gateway import Gateway

NO_CONTENT: Reply = (204, {}, b"")


def stats(gw: Gateway, headers: CIMultiDict, body: bytes, args: dict[str, str]) -> Reply:
    gw.stats_intake.put(headers, body, time.time())
    return NO_CONTENT


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
