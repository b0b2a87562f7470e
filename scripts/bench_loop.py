"""What the one-process benchmark scripts share: the sidecar's event loop, and a private Redis when wanted."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Coroutine
from typing import Any


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on uvloop, what the sidecar runs on (asyncio's loop when uvloop is missing)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)


def run_with_redis(bench: Callable[[Any], Coroutine[Any, Any, None]], no_redis: bool) -> None:
    """``bench(server)`` with a private redis-server (free 127.0.0.1 port, stopped after), or ``bench(None)``
    for the memory store only: when asked, or when redis-server is not installed."""
    if no_redis or shutil.which("redis-server") is None:
        run(bench(None))
        return
    from tests.redis_server import RedisServer  # the tests' private server: never the machine's own Redis

    with RedisServer() as server:
        run(bench(server))
