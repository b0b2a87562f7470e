"""GET /lmgate/v1/models: the models the caller's key may use, priced (lmgate/catalogue.py).

Any allowed key sees what its own ``models`` rules and its owner's allow; the
admin token sees every priced model. The answer has OpenAI's list shape, so
``OpenAI(base_url=".../lmgate/v1").models.list()`` reads it.
"""

from __future__ import annotations

from aiohttp import web

from lmgate.app_keys import GATEWAY
from lmgate.catalogue import allowed_models
from lmgate.handlers.api_errors import json_error
from lmgate.handlers.callers import caller


async def models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    who = caller(request)
    if isinstance(who, web.Response):
        return who
    for name in request.query:
        if name != "key":  # the caller's key, as Gemini sends it
            return json_error(400, f"lmgate: {name[:64]}: unknown parameter; this endpoint takes none", name[:64])
    rules = [] if who.entry is None else [who.entry.limits, gw.policies.owner_limits(who.entry.owner)]
    return web.json_response({"object": "list", "data": allowed_models(gw.prices, rules)})
