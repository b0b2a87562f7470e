"""A do-nothing stand-in for lmgate's sidecar, for ``run.py --ablate``: the floor of aiohttp itself.

Same framework and settings as ``lmgate serve`` (aiohttp, uvloop, no access log):
``POST /auth`` reads the body and allows with a fixed handoff. Whatever lmgate's sidecar costs above this is
lmgate's own code; this much is the price of an aiohttp request.

    python scripts/bench/noop_sidecar.py --port 9001
"""

from __future__ import annotations

import argparse

from aiohttp import web

CTX = "k=bench&o=bench-team&model=gpt-4o-mini&e=/v1/chat/completions"


async def auth(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204, headers={"X-Lmgate-Verdict": "allow", "X-Lmgate-Ctx": CTX})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_post("/auth", auth)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
