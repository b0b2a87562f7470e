"""The benchmark's two measuring clients (wrk does the saturation runs).

``fixed-rate``: an open-loop client. Requests are due at fixed times (``--rate``
per second) whatever the answers do: a slow answer never delays the next send,
it is sent on another keep-alive connection of the pool (wrk and other
closed-loop tools wait, and so under-report latency). Prints latency measured
from the actual send and from the due time (the second includes any queueing
when the whole pool was busy, i.e. it is corrected for coordinated omission).

``streams``: ``--concurrency`` clients each sending one streaming request after
the other for ``--seconds``. Per stream it records the time to the response
headers (TTFB), to the first token chunk (TTFT), the gaps between token chunks
as they arrive, and each chunk's transit time (arrival minus the
``bench_sent_ns`` the fake SSE server stamped into it, same monotonic clock).

Both print one JSON object on stdout. HTTP/1.1 only, loopback only, bounded by
``--seconds``. Deliberately small: raw asyncio protocols, no HTTP library, so
the client adds little and the same to every row.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import itertools
import json
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

NS = 1_000_000_000


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def summary_ms(values_ns: list[int]) -> dict:
    ms = [v / 1e6 for v in values_ns]
    return {
        "n": len(ms),
        "p50": pct(ms, 50),
        "p90": pct(ms, 90),
        "p99": pct(ms, 99),
        "p999": pct(ms, 99.9),
        "max": max(ms) if ms else None,
        "mean": sum(ms) / len(ms) if ms else None,
    }


def build_request(url: str, body: bytes, headers: list[str]) -> tuple[str, int, bytes]:
    u = urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {u.hostname}:{u.port}",
        "User-Agent: lmgate-bench",
        "Accept: */*",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return u.hostname or "127.0.0.1", u.port or 80, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Response:
    """Incremental HTTP/1.1 response framing: Content-Length or chunked (ends at the 0 chunk)."""

    __slots__ = ("buf", "chunked", "close", "head_end", "length", "status")

    def __init__(self) -> None:
        self.buf = b""
        self.head_end = -1
        self.status = 0
        self.length = -1
        self.chunked = False
        self.close = False

    def feed(self, data: bytes) -> bytes | None:
        """Add bytes; returns the bytes past the end of the response once it is complete, else None."""
        self.buf += data
        if self.head_end < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return None
            self.head_end = end + 4
            lines = self.buf[:end].split(b"\r\n")
            self.status = int(lines[0].split(b" ", 2)[1])
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    self.length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    self.chunked = True
                elif name == b"connection" and b"close" in value.lower():
                    self.close = True
        if self.chunked:
            # Our bodies are JSON or SSE: the terminating chunk is the only place this sequence occurs.
            end = self.buf.find(b"\r\n0\r\n\r\n", self.head_end - 2)
            return None if end < 0 else self.buf[end + 7 :]
        if self.length >= 0:
            end = self.head_end + self.length
            return None if len(self.buf) < end else self.buf[end:]
        return None  # read to close: not used by the servers measured here


class Conn(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.resp: Response | None = None
        self.sent_ns = 0
        self.due_ns = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, request: bytes, due_ns: int) -> None:
        self.resp = Response()
        self.due_ns = due_ns
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        resp = self.resp
        if resp is None:
            return
        if resp.feed(data) is None:
            return
        self.resp = None
        self.pool.done(self, resp.status, now - self.sent_ns, now - self.due_ns, resp.close)

    def connection_lost(self, exc) -> None:
        self.transport = None
        self.pool.lost(self, self.resp is not None)


class Pool:
    def __init__(self, host: str, port: int, request: bytes, size: int) -> None:
        self.host, self.port, self.request, self.size = host, port, request, size
        self.idle: list[Conn] = []
        self.conns: set[Conn] = set()
        self.backlog: collections.deque[int] = collections.deque()
        self.latency: list[int] = []
        self.intended: list[int] = []
        self.statuses: collections.Counter[int] = collections.Counter()
        self.errors = 0
        self.queued = 0
        self.in_flight = 0
        self.opening = 0

    async def open(self) -> None:
        self.opening += 1
        try:
            _, conn = await asyncio.get_running_loop().create_connection(lambda: Conn(self), self.host, self.port)
        except OSError:
            self.errors += 1
            return
        finally:
            self.opening -= 1
        self.conns.add(conn)
        self._idle(conn)

    def submit(self, due_ns: int) -> None:
        if self.idle:
            self.in_flight += 1
            self.idle.pop().send(self.request, due_ns)
            return
        self.queued += 1
        self.backlog.append(due_ns)
        if len(self.conns) + self.opening < self.size:
            asyncio.get_running_loop().create_task(self.open())

    def _idle(self, conn: Conn) -> None:
        if self.backlog:
            self.in_flight += 1
            conn.send(self.request, self.backlog.popleft())
        else:
            self.idle.append(conn)

    def done(self, conn: Conn, status: int, latency: int, intended: int, close: bool) -> None:
        self.in_flight -= 1
        self.statuses[status] += 1
        self.latency.append(latency)
        self.intended.append(intended)
        if close:  # the server ends this keep-alive link: replace it
            conn.resp = None
            self.conns.discard(conn)
            conn.transport.close()
            asyncio.get_running_loop().create_task(self.open())
        else:
            self._idle(conn)

    def lost(self, conn: Conn, mid_request: bool) -> None:
        if conn in self.conns:
            self.conns.discard(conn)
            if conn in self.idle:
                self.idle.remove(conn)
            if mid_request:
                self.in_flight -= 1
                self.errors += 1
            asyncio.get_running_loop().create_task(self.open())


async def fixed_rate(args: argparse.Namespace) -> dict:
    body = Path(args.body).read_bytes()
    host, port, request = build_request(args.url, body, args.header)
    pool = Pool(host, port, request, args.connections)
    await asyncio.gather(*(pool.open() for _ in range(min(8, args.connections))))
    total = int(args.rate * args.seconds)
    interval = NS / args.rate
    loop = asyncio.get_running_loop()
    late = 0
    start = time.perf_counter_ns() + 20_000_000
    i = 0
    while i < total:
        due = start + int(i * interval)
        now = time.perf_counter_ns()
        if due > now:
            await asyncio.sleep((due - now) / NS)
            now = time.perf_counter_ns()
        while i < total and start + int(i * interval) <= now:
            due = start + int(i * interval)
            if now - due > 2_000_000:
                late += 1  # the client itself fell behind its schedule by more than 2 ms
            pool.submit(due)
            i += 1
    deadline = loop.time() + 10
    while (pool.in_flight or pool.backlog) and loop.time() < deadline:
        await asyncio.sleep(0.01)
    elapsed = (time.perf_counter_ns() - start) / NS
    for c in list(pool.conns):
        if c.transport:
            c.transport.close()
    non2xx = sum(n for s, n in pool.statuses.items() if not 200 <= s < 300)
    return {
        "rate": args.rate,
        "sent": total,
        "completed": len(pool.latency),
        "non2xx": non2xx,
        "errors": pool.errors,
        "unanswered": pool.in_flight + len(pool.backlog),
        "queued_no_free_conn": pool.queued,
        "client_late_2ms": late,
        "connections": len(pool.conns),
        "elapsed_s": elapsed,
        "latency_ms": summary_ms(pool.latency),
        "intended_ms": summary_ms(pool.intended),
    }


SENT_RE = re.compile(rb'"bench_sent_ns":(\d+)')


class StreamConn(asyncio.Protocol):
    """One streaming request at a time; records arrival times of each SSE chunk."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.finished: asyncio.Future | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def start(self, request: bytes) -> asyncio.Future:
        self.finished = asyncio.get_running_loop().create_future()
        self.resp = Response()
        self.scan = 0
        self.head_ns = 0
        self.events: list[tuple[int, int]] = []  # (arrival, sent) per SSE chunk
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(request)
        return self.finished

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        if self.finished is None or self.finished.done():
            return
        resp = self.resp
        rest = resp.feed(data)
        if resp.head_end < 0:
            return
        if not self.head_ns:
            self.head_ns = now
        last = resp.buf.rfind(b"\n\n")
        if last > self.scan:
            for m in SENT_RE.finditer(resp.buf, max(self.scan, resp.head_end), last):
                self.events.append((now, int(m.group(1))))
            self.scan = last
        if rest is not None:
            self.finished.set_result(resp)

    def connection_lost(self, exc) -> None:
        self.transport = None
        if self.finished is not None and not self.finished.done():
            self.finished.set_exception(ConnectionError("connection lost mid-stream"))
        if not self.closed.done():
            self.closed.set_result(None)


async def _stream_run(args: argparse.Namespace, host: str, port: int, request: bytes) -> dict:
    loop = asyncio.get_running_loop()
    ttfb: list[int] = []
    ttft: list[int] = []
    gaps: list[int] = []
    transit: list[int] = []
    statuses: collections.Counter[int] = collections.Counter()
    counts = {"errors": 0, "short": 0}
    deadline = loop.time() + args.seconds

    async def worker(delay: float) -> None:
        await asyncio.sleep(delay)  # spread the streams' phases
        conn: StreamConn | None = None
        while loop.time() < deadline:
            if conn is None or conn.transport is None:
                try:
                    _, conn = await loop.create_connection(StreamConn, host, port)
                except OSError:
                    counts["errors"] += 1
                    await asyncio.sleep(0.01)
                    continue
            try:
                resp = await asyncio.wait_for(conn.start(request), 30)
            except (ConnectionError, TimeoutError):
                counts["errors"] += 1
                conn = None
                continue
            statuses[resp.status] += 1
            ev, head, sent = conn.events, conn.head_ns, conn.sent_ns
            if resp.close:
                conn.transport.close()
                conn = None
            if not 200 <= resp.status < 300 or len(ev) < 4:
                counts["short"] += 1
                continue
            ttfb.append(head - sent)
            # ev[0]: the role chunk (sent with the headers); ev[1..-3]: tokens; ev[-2], ev[-1]: finish, usage
            tokens = ev[1:-2]
            ttft.append(tokens[0][0] - sent)
            gaps.extend(b[0] - a[0] for a, b in itertools.pairwise(tokens))
            transit.extend(arrival - stamped for arrival, stamped in tokens)

    n = args.concurrency
    await asyncio.gather(*(worker(i * args.stagger_ms / 1000 / max(1, n)) for i in range(n)))
    non2xx = sum(v for s, v in statuses.items() if not 200 <= s < 300)
    return {
        "concurrency": n,
        "streams": sum(statuses.values()),
        "non2xx": non2xx,
        "errors": counts["errors"],
        "short": counts["short"],
        "ttfb_ms": summary_ms(ttfb),
        "ttft_ms": summary_ms(ttft),
        "gap_ms": summary_ms(gaps),
        "transit_ms": summary_ms(transit),
    }


def main() -> int:
    p = argparse.ArgumentParser(description="lmgate benchmark clients (see the module docstring)")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("fixed-rate", "streams"):
        s = sub.add_parser(name)
        s.add_argument("url")
        s.add_argument("--body", required=True, help="file with the request body")
        s.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
        s.add_argument("--seconds", type=float, default=10.0)
    fr = sub.choices["fixed-rate"]
    fr.add_argument("--rate", type=float, required=True, help="requests per second, open loop")
    fr.add_argument("--connections", type=int, default=64, help="keep-alive pool size (upper bound)")
    st = sub.choices["streams"]
    st.add_argument("--concurrency", type=int, default=8)
    st.add_argument("--stagger-ms", type=float, default=100.0, help="spread of the workers' start times")
    args = p.parse_args()
    gc.collect()
    gc.freeze()
    gc.disable()  # no collector pauses inside the measurement
    run = fixed_rate if args.cmd == "fixed-rate" else _stream_run_entry
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


async def _stream_run_entry(args: argparse.Namespace) -> dict:
    body = Path(args.body).read_bytes()
    host, port, request = build_request(args.url, body, args.header)
    return await _stream_run(args, host, port, request)


if __name__ == "__main__":
    sys.exit(main())
