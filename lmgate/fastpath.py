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
import contextlib
import errno
import logging
import os
import socket
import stat
from collections import deque
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import httptools
from multidict import CIMultiDict

from lmgate.gateway import Gateway

log = logging.getLogger("lmgate.fastpath")

Reply = tuple[int, dict[str, str], bytes]
Request = tuple[bytes, CIMultiDict, bytes, bytes]  # path, headers, body, query


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
    """One nginx keep-alive connection: parse with httptools, answer each request in turn.

    A reply the handler has at once is written at once. One it makes later (a coroutine) is awaited by the
    connection's own task, made once per connection and woken per request: a task per request (creating
    it, registering it, copying its context) cost ~1.5 µs of CPU more (scripts/bench_fastpath.py).
    Requests nginx sends while an answer is in the making wait in ``queue``, so answers go out in request
    order."""

    def __init__(self, gw: Gateway, routes: dict[bytes, Handler]) -> None:
        self.gw, self.routes = gw, routes
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[tuple[Request, bool, Answer | None]] = deque()  # (request, keep_alive, started)
        self.busy = False  # the worker has an answer in the making (or queued requests)
        self.worker: asyncio.Task | None = None
        self.wake: asyncio.Future | None = None  # what the idle worker waits on

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._wake_worker()  # an idle worker ends; a busy one ends once its queue is answered

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
        if self.busy:  # answers go out in request order: this one is started after those before it
            self.queue.append((request, keep_alive, None))
            return
        started = self._start(*request)
        if isinstance(started, tuple):  # no task, no hop through the loop
            self._write(started, keep_alive)
            return
        self.busy = True
        self.queue.append((request, keep_alive, started))
        self._wake_worker()

    def _wake_worker(self) -> None:
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)
        elif self.worker is None and self.busy:
            self.worker = asyncio.ensure_future(self._work())

    async def _work(self) -> None:
        """Answer the queued requests in turn, then sleep until woken; end with the connection."""
        try:
            await self._answer_queued()
        except asyncio.CancelledError:  # e.g. shutdown: the queued requests get no answer, nginx sees the close
            if self.transport is not None:
                self.transport.close()
            raise
        finally:
            self.worker = None

    async def _answer_queued(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self.queue:
                request, keep_alive, started = self.queue.popleft()
                reply = self._start(*request) if started is None else started
                if not isinstance(reply, tuple):
                    try:
                        reply = await reply
                    except Exception:
                        reply = _failed(request[0])
                try:
                    self._write(reply, keep_alive)
                except Exception:  # e.g. a header with a line break: nginx still gets an answer
                    self._write(_failed(request[0]), keep_alive)
            self.busy = False
            if self.transport is None:
                return
            self.wake = loop.create_future()
            await self.wake
            self.wake = None

    def _start(self, path: bytes, headers: CIMultiDict, body: bytes, query: bytes) -> Reply | Settled | Answer:
        handler = self.routes.get(path)
        if handler is None:
            return _NOT_FOUND
        try:
            args = dict(parse_qsl(query.decode("latin-1"))) if query else {}
            return handler(self.gw, headers, body, args)
        except Exception:  # no verdict header: nginx fails closed for /auth
            return _failed(path)

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


def protocol(gw: Gateway, routes: dict[bytes, Handler]) -> asyncio.Protocol:
    """One connection's protocol, as ``serve`` makes it: scripts/bench_auth.py feeds it nginx's bytes."""
    return _Protocol(gw, routes)


def _failed(path: bytes) -> Reply:
    log.exception("fastpath: %s failed", path.decode("latin-1"))
    return 500, {}, b"internal error"


async def serve(gw: Gateway, host: str, port: int, routes: dict[bytes, Handler]) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Protocol(gw, routes), host, port, backlog=1024, reuse_address=True)


class UnixServer(NamedTuple):
    """The fast path on a Unix socket: closing it also removes the socket file, if it is still its own."""

    server: asyncio.AbstractServer
    path: Path
    inode: int

    def close(self) -> None:
        self.server.close()
        if self.owns_path():  # else gone, or replaced by a sidecar that took over: leave it
            with contextlib.suppress(OSError):
                self.path.unlink()

    def owns_path(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    async def watch(self, every: float = 1.0) -> None:
        """End once the socket file is gone or replaced (e.g. the spool directory was deleted): nginx can no
        longer reach this sidecar, so it must stop and be restarted (``app.stop_if_it_ends``), which binds
        the socket anew, rather than serve nothing while nginx answers 503."""
        while self.owns_path():
            await asyncio.sleep(every)
        log.critical("fastpath: the socket %s is gone or replaced; nginx cannot reach this sidecar", self.path)


async def serve_unix(gw: Gateway, path: Path, routes: dict[bytes, Handler]) -> UnixServer:
    loop = asyncio.get_running_loop()
    sock = bind_unix(path)
    inode = os.stat(path).st_ino
    server = await loop.create_unix_server(lambda: _Protocol(gw, routes), sock=sock, backlog=1024)
    return UnixServer(server, path, inode)


def bind_unix(path: Path) -> socket.socket:
    """A listening socket at ``path`` that any local user may connect to, put in place in one step.

    Mode 0666: a root-started nginx's workers run as another user (nobody, nginx), and a TCP port on
    127.0.0.1 is open to every local user too. Bound under a temporary name and chmod-ed before the rename,
    so nginx never finds the path refusing it. A socket left by a dead sidecar is replaced; one a live
    sidecar answers on is not taken from it."""
    if _answers(path):
        raise OSError(errno.EADDRINUSE, f"another sidecar serves {path}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(tmp))
        os.chmod(tmp, 0o666)
        sock.listen(1024)
        os.replace(tmp, path)
    except BaseException:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    sock.setblocking(False)
    return sock


def _answers(path: Path) -> bool:
    """Something listens on the Unix socket ``path`` (a file that is no socket counts: it is not ours to remove)."""
    if not path.exists() and not path.is_symlink():
        return False
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:  # ECONNREFUSED: a dead sidecar's socket
        return False
    finally:
        probe.close()
    return True
