"""POST /stats: nginx's fire-and-forget report after a response. Always 204, at once.

The line is built a moment later, with the others that arrived meanwhile
(``lmgate/stats/intake.py``), so the post never delays the next /auth. Only a
request's max_parallel slot is given back before the answer.
"""

from __future__ import annotations

import time

from aiohttp import web
from multidict import CIMultiDict

from lmgate.fastpath import Answer, Reply
from lmgate.gateway import Gateway

NO_CONTENT: Reply = (204, {}, b"")


def stats(gw: Gateway, headers: CIMultiDict, body: bytes, args: dict[str, str]) -> Reply | Answer:
    handoff = gw.stats_intake.put(headers, body, time.time())
    if handoff.lease and handoff.key_id:
        return _slot_freed(gw, handoff.lease, handoff.key_id, handoff.owner)
    return NO_CONTENT


async def _slot_freed(gw: Gateway, lease: str, key_id: str, owner: str | None) -> Reply:
    # nginx reads the client's next request on this connection once we answer: its max_parallel slot must be free
    # by then, or a client sending one request after another with max_parallel=1 would be refused
    await gw.policies.release(lease, key_id, owner)
    return NO_CONTENT


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
