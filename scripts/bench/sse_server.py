"""The benchmark's fake streaming upstream: OpenAI chat-completion SSE, one chunk per token, on time.

Every request (whatever its path) gets ``200 text/event-stream`` right away
with the role chunk, then after ``--first-ms`` the first token, then one token
every ``--gap-ms``, then the usage chunk and ``data: [DONE]``. Each chunk
carries ``"bench_sent_ns"``: the CLOCK_MONOTONIC time it was written, which a
client on the same machine subtracts from its arrival time to get the chunk's
transit time through whatever sits in between (bare nginx or lmgate).

Plain asyncio (uvloop when installed), HTTP/1.1 keep-alive, chunked encoding.

    python scripts/bench/sse_server.py --port 9000 [--tokens 20 --first-ms 10 --gap-ms 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time

WORDS = ["Sure", ",", " here", " is", " a", " short", " answer", " to", " your", " question", "."]
HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Cache-Control: no-cache\r\n"
    b"x-request-id: req_bench_stream\r\n"
    b"openai-processing-ms: 12\r\n"
    b"\r\n"
)
BASE = {
    "id": "chatcmpl-bench0000000000000000000000000",
    "object": "chat.completion.chunk",
    "created": 1764000000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_bench0001",
}


def frame(choices: list, usage: dict | None = None) -> bytes:
    doc = {**BASE, "choices": choices, "bench_sent_ns": time.perf_counter_ns()}
    if usage is not None:
        doc["usage"] = usage
    data = b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def delta(content: str | None = None, role: str | None = None, finish: str | None = None) -> list:
    d: dict = {}
    if role:
        d["role"], d["content"], d["refusal"] = role, "", None
    if content is not None:
        d["content"] = content
    return [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]


class Stream(asyncio.Protocol):
    def __init__(self, opts: argparse.Namespace) -> None:
        self.opts = opts
        self.buf = b""
        self.busy = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._next()

    def _next(self) -> None:
        if self.busy or self.transport is None:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self.buf[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buf) < end + 4 + length:
            return
        body = self.buf[end + 4 : end + 4 + length]
        self.buf = self.buf[end + 4 + length :]
        self.busy = True
        asyncio.get_running_loop().create_task(self._answer(len(body)))

    async def _answer(self, body_len: int) -> None:
        o, t = self.opts, self.transport
        try:
            t.write(HEAD + frame(delta(role="assistant")))
            await asyncio.sleep(o.first_ms / 1000)
            for i in range(o.tokens):
                if self.transport is None:
                    return
                self.transport.write(frame(delta(WORDS[i % len(WORDS)])))
                await asyncio.sleep(o.gap_ms / 1000)
            if self.transport is None:
                return
            prompt = max(1, body_len // 4)
            usage = {"prompt_tokens": prompt, "completion_tokens": o.tokens, "total_tokens": prompt + o.tokens}
            tail = frame(delta(finish="stop")) + frame([], usage)
            tail += b"%x\r\ndata: [DONE]\n\n\r\n0\r\n\r\n" % len(b"data: [DONE]\n\n")
            self.transport.write(tail)
        finally:
            self.busy = False
        self._next()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tokens", type=int, default=20)
    p.add_argument("--first-ms", type=float, default=10.0)
    p.add_argument("--gap-ms", type=float, default=10.0)
    opts = p.parse_args()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Stream(opts), "127.0.0.1", opts.port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
