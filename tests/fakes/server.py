"""What every fake provider shares: an aiohttp app on a free 127.0.0.1 port, in a thread of its own,
recording each request byte for byte before its ``_dispatch`` answers it."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from dataclasses import dataclass

from aiohttp import web


@dataclass(slots=True)
class Received:
    method: str
    raw_path: str
    headers: list[tuple[str, str]]  # as sent, names in the client's case
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of a header, looked up case-insensitively as HTTP does."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)


class ThreadedFake:
    name = "fake"

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._ids = itertools.count(1)
        self.stall_before: int | None = None
        self.stall_s = 0.0
        self.hangup_before: int | None = None
        self.answer_delay = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        threading.Thread(target=self._serve, args=(sock,), daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")

    def _serve(self, sock: socket.socket) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._record_and_dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.SockSite(self._runner, sock).start())
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _record_and_dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        self.received.append(Received(request.method, request.raw_path, headers, body))
        if self.answer_delay:  # a provider slow to begin its answer
            await asyncio.sleep(self.answer_delay)
        return await self._dispatch(request, body)

    async def _dispatch(self, request: web.Request, body: bytes) -> web.StreamResponse:
        raise NotImplementedError

    async def stream(self, request: web.Request, headers: dict[str, str], frames: list[bytes]) -> web.StreamResponse:
        """A chunked response, one frame per chunk, ``self.chunk_delay`` seconds apart (as providers stream);
        before frame ``self.stall_before`` (if set) a pause of ``self.stall_s`` seconds; before frame
        ``self.hangup_before`` (if set) the connection is dropped."""
        resp = web.StreamResponse(headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i, frame in enumerate(frames):
            if i:
                await asyncio.sleep(self.chunk_delay)  # type: ignore[attr-defined]
            if i == self.stall_before:  # a provider that stops sending mid-answer, then goes on
                await asyncio.sleep(self.stall_s)
            if i == self.hangup_before:  # a provider that drops the connection mid-answer
                assert request.transport is not None
                request.transport.abort()
                return resp
            await resp.write(frame)
        await resp.write_eof()
        return resp
