"""CPU per request of the sidecar's fast HTTP layer (lmgate/fastpath.py) alone, A/B against another commit's.

    .venv/bin/python scripts/bench_fastpath.py [--against REV] [--requests N] [--connections C] [--rounds R] [--unix]

Each server runs in its own process with uvloop and one route answered the way /auth answers (a coroutine
that returns without waiting); clients in this process keep C keep-alive connections busy, one request at a
time each, as nginx does. Printed: the server process's CPU (utime+stime) per request, median over rounds,
rounds interleaved. CPU per request holds up on a busy machine far better than requests per second.
``--unix`` adds a row: the worktree's server on a Unix socket (``serve_unix``, nginx's link by default), the
others being on TCP loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUEST = (
    b"POST /auth HTTP/1.1\r\nHost: lmgate_fast\r\nContent-Length: 2\r\nAuthorization: Bearer sk-abc\r\n"
    b"X-Lmgate-Provider: openai\r\nX-Lmgate-Uri: /openai/v1/chat/completions\r\nX-Lmgate-Method: POST\r\n"
    b"X-Lmgate-Request-Id: 0123456789abcdef0123456789abcdef\r\n\r\n{}"
)


def serve(module_path: str, address: int | str, ready) -> None:
    """Serve on TCP port ``address``, or on the Unix socket at path ``address``."""
    import importlib.util

    import uvloop

    spec = importlib.util.spec_from_file_location("fastpath_under_test", module_path)
    fastpath = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fastpath)

    async def auth(gw, headers, body, args):
        headers.get("X-Lmgate-Provider")
        return 204, {"X-Lmgate-Verdict": "allow", "X-Lmgate-Ctx": "W251bGwsbnVsbF0="}, b""

    async def main() -> None:
        if isinstance(address, str):
            await fastpath.serve_unix(None, Path(address), {b"/auth": auth})
        else:
            await fastpath.serve(None, "127.0.0.1", address, {b"/auth": auth})
        ready.set()
        await asyncio.Event().wait()

    uvloop.run(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(address: int | str, requests: int, connections: int) -> None:
    async def one(n: int) -> None:
        if isinstance(address, str):
            reader, writer = await asyncio.open_unix_connection(address)
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", address)
        for _ in range(n):
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
            if length:
                await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*(one(requests // connections) for _ in range(connections)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", default="main", help="the commit whose fastpath.py is compared (main)")
    p.add_argument("--requests", type=int, default=40_000)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--unix", action="store_true", help="also the worktree's server on a Unix socket")
    a = p.parse_args()
    other = subprocess.run(
        ["git", "show", f"{a.against}:lmgate/fastpath.py"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        other_path = Path(tmp) / "fastpath_other.py"
        other_path.write_bytes(other)
        port: int | str = 20000 + os.getpid() % 5000
        ours = str(ROOT / "lmgate" / "fastpath.py")
        variants = {a.against: (str(other_path), port), "worktree": (ours, port)}
        if a.unix:
            variants["unix"] = (ours, str(Path(tmp) / "fast.sock"))
        results: dict[str, list[float]] = {name: [] for name in variants}
        ctx = multiprocessing.get_context("spawn")
        for _ in range(a.rounds):
            for name, (path, port) in variants.items():
                ready = ctx.Event()
                proc = ctx.Process(target=serve, args=(path, port, ready), daemon=True)
                proc.start()
                ready.wait(10)
                asyncio.run(load(port, 2000, a.connections))  # warm-up
                before = cpu_seconds(proc.pid)
                started = time.perf_counter()
                asyncio.run(load(port, a.requests, a.connections))
                wall = time.perf_counter() - started
                results[name].append((cpu_seconds(proc.pid) - before) / a.requests * 1e6)
                proc.terminate()
                proc.join()
                print(f"  {name:10} {results[name][-1]:6.1f} µs CPU/request  ({a.requests / wall:,.0f} req/s)")
        for name, values in results.items():
            print(
                f"{name:10} median {statistics.median(values):5.1f} µs CPU/request "
                f"(min {min(values):.1f}, max {max(values):.1f}) over {a.rounds} rounds"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
