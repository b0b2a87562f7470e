"""The per-request endpoints nginx calls (/auth, /body) on a lean HTTP/1.1 server of their own.

Every proxied request costs one /auth round trip, so its HTTP layer is the
sidecar's floor: aiohttp's request machinery measured ~140 µs per
call (docs/performance.md), a bare asyncio protocol on uvloop with httptools'
C parser a fraction of that. Only nginx talks to this server: one request at a
time per keep-alive connection, bodies with Content-Length. The gateway's own
API (/healthz, /lmgate/v1/usage) stays on aiohttp's TCP port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import httptools
from multidict import CIMultiDict

from lmgate.gateway import Gateway

log = logging.getLogger("lmgate.fastpath")

Reply = tuple[int, dict[str, str], bytes]


class Settled(NamedTuple):
    """A reply whose decision must know whether nginx got it (e.g. a max_parallel slot it took): ``settle``
    is called with True once the reply is written, with False when nginx had closed the connection first
    (it gave up waiting, or its client left), so the decision can be undone."""

    status: int
    headers: dict[str, str]
    body: bytes
    settle: Callable[[bool], None]


Answer = Coroutine[Any, Any, Reply | Settled]
#: a handler answers at once (a Reply: no task is made for it) or later (a coroutine, run in a task)
Handler = Callable[[Gateway, CIMultiDict, bytes, dict[str, str]], Reply | Settled | Answer]
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_NOT_FOUND: Reply = (404, {}, b"not found")


class _Protocol(asyncio.Protocol):
    """One nginx keep-alive connection: parse with httptools, answer each request in turn."""

    def __init__(self, gw: Gateway, routes: dict[bytes, Handler]) -> None:
        self.gw, self.routes = gw, routes
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: asyncio.Task | None = None  # the answer being made; the next one waits for it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            log.error("fastpath: bad request from nginx: %s", e)
            self._write((400, {}, b"bad request"), keep_alive=False)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.raw_headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        path, _, query = self.url.partition(b"?")
        keep_alive = self.parser.should_keep_alive()
        request = (path, CIMultiDict(self.raw_headers), b"".join(self.chunks), query)
        if self.pending is not None and not self.pending.done():  # answers go out in request order
            self.pending = asyncio.ensure_future(self._answer_after(self.pending, request, keep_alive))
            return
        later = self._answer(request, keep_alive)
        if later is not None:
            self.pending = asyncio.ensure_future(later)

    def _answer(self, request: tuple[bytes, CIMultiDict, bytes, bytes], keep_alive: bool) -> Awaitable[None] | None:
        """Write the reply now if the handler has it (no task: a task per request was ~6% of the sidecar);
        else what writes it once it has."""
        started = self._start(*request)
        if isinstance(started, tuple):
            self._write(started, keep_alive)
            return None
        return self._finish(request[0], started, keep_alive)

    def _start(self, path: bytes, headers: CIMultiDict, body: bytes, query: bytes) -> Reply | Settled | Answer:
        handler = self.routes.get(path)
        if handler is None:
            return _NOT_FOUND
        try:
            args = dict(parse_qsl(query.decode("latin-1"))) if query else {}
            return handler(self.gw, headers, body, args)
        except Exception:  # no verdict header: nginx fails closed for /auth
            return _failed(path)

    async def _finish(self, path: bytes, answer: Answer, keep_alive: bool) -> None:
        try:
            reply = await answer
        except Exception:
            reply = _failed(path)
        self._write(reply, keep_alive)

    async def _answer_after(
        self, before: asyncio.Task, request: tuple[bytes, CIMultiDict, bytes, bytes], keep_alive: bool
    ) -> None:
        await before
        later = self._answer(request, keep_alive)
        if later is not None:
            await later

    def _write(self, reply: Reply | Settled, keep_alive: bool) -> None:
        transport = self.transport
        delivered = transport is not None and not transport.is_closing()
        try:
            if delivered:
                transport.write(_encode(reply, keep_alive))  # type: ignore[union-attr]
                if not keep_alive:
                    transport.close()  # type: ignore[union-attr]
        except Exception:
            delivered = False
            raise
        finally:
            if len(reply) > 3:
                reply[3](delivered)  # type: ignore[misc]


def _encode(reply: Reply | Settled, keep_alive: bool) -> bytes:
    status, headers, body = reply[0], reply[1], reply[2]
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\nContent-Length: {len(body)}\r\n"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value:  # a header can never smuggle another
            raise ValueError(f"header {name} has a line break")
        lines.append(f"{name}: {value}\r\n")
    if not keep_alive:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8", "surrogateescape") + body


def _failed(path: bytes) -> Reply:
    log.exception("fastpath: %s failed", path.decode("latin-1"))
    return 500, {}, b"internal error"


async def serve(gw: Gateway, host: str, port: int, routes: dict[bytes, Handler]) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Protocol(gw, routes), host, port, backlog=1024, reuse_address=True)
