#!/usr/bin/env python3
"""Micro-benchmark of the sidecar's /auth handler: process CPU µs per request, called in-process.

Builds the gateway the sidecar builds (memory store, a temp dir for its files) and
asks ``handlers.auth.auth`` what nginx asks: an OpenAI chat request with a key of
no limits (the fast path), one with every limit set high (models, budget,
max_parallel, rpm, tpm: all judged, all committed), and bench.sh's allow-list row
with its 2 KB chat body (models, rpm, tpm, a monthly budget held in reserve mode,
max_parallel). The "wire" rows send the same request as nginx's bytes through the
fast HTTP layer (``fastpath._Protocol``) with a transport that keeps what it is
given: the parser, the headers, the handler and the answer's encoding, without
the socket's syscalls. Every 500 requests their slots and holds are freed, untimed,
as their stats lines would. CPU time over a known number of requests holds up on a
busy machine far better than wall time.

A/B: ``--against REV`` runs this script on that commit's lmgate (``git archive``
into a temp dir, imported with ``--root``) and on this tree's, each in a fresh
process, rounds interleaved, and prints the medians.

    .venv/bin/python scripts/bench_auth.py [--requests 20000] [--against main --rounds 5] [--only ROW]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_loop  # beside this script
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIG = 10**9
BENCH_BIG = 1_000_000_000_000  # bench.sh's rpm/tpm (scripts/bench/workload.py)
BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'


def _bench_body() -> bytes:
    """bench.sh's 2 KB chat body, as its clients send it."""
    sys.path.insert(0, str(ROOT / "scripts" / "bench"))
    from workload import chat_body

    sys.path.pop(0)
    return json.dumps(chat_body()).encode()


def _gateway(root: Path):
    from lmgate.config import load_config
    from lmgate.gateway import Gateway

    rows = ["id,owner,added,api_key,models,rpm,tpm,budget_usd,budget_period,max_parallel"]
    rows.append(f"plain,team,2026-01-01,sha256:{hashlib.sha256(b'sk-plain').hexdigest()},,,,,,")
    rows.append(
        f"limited,team,2026-01-01,sha256:{hashlib.sha256(b'sk-limited').hexdigest()},gpt-*,{BIG},{BIG},1e9,,{BIG}"
    )
    # bench.sh's row (scripts/bench/servers.py), max_parallel past the requests here: no stats line frees a slot
    rows.append(
        f"bench,bench-team,2026-01-01,sha256:{hashlib.sha256(b'sk-bench').hexdigest()},gpt-4o*,"
        f"{BENCH_BIG},{BENCH_BIG},1000000000,month,{BIG}"
    )
    (root / "allowlist.csv").write_text("\n".join(rows) + "\n")
    config = {
        "allowlist": {"path": str(root / "allowlist.csv")},
        "stats": {"path": str(root / "stats.jsonl"), "spool_dir": str(root / "spool")},
        "rollups": {"path": str(root / "rollups.sqlite")},
        "providers": {"openai": {"upstream": "http://127.0.0.1:9"}},
    }
    (root / "lmgate.yaml").write_text(yaml.safe_dump(config))
    return Gateway.from_config(load_config(root / "lmgate.yaml", environ={}))


def _headers(key: str, body: bytes) -> list[tuple[str, str]]:
    """What nginx's /_lmgate/auth location sends: its own headers, then the client's."""
    return [
        ("Host", "lmgate_fast"),
        ("X-Lmgate-Provider", "openai"),
        ("X-Lmgate-Uri", "/openai/v1/chat/completions"),
        ("X-Lmgate-Method", "POST"),
        ("X-Lmgate-Host", "127.0.0.1:8080"),
        ("X-Lmgate-Request-Id", "0123456789abcdef0123456789abcdef"),
        ("X-Lmgate-Asked", f"{time.time() + 3600:.3f}"),  # read as nginx's would be; never late in a long run
        ("Content-Length", str(len(body))),
        ("Authorization", f"Bearer {key}"),
        ("Content-Type", "application/json"),
        ("User-Agent", "OpenAI/Python 1.54.0"),
        ("Accept", "application/json"),
    ]


BATCH = 500  # requests timed between two untimed settles


async def _settle(gw, ctxs: list[str]) -> None:
    """What the requests' stats lines would do (untimed): report bench.sh's usage (554 tokens, what its fake
    upstream answers), which frees their max_parallel slots and budget holds, so the store's counters are
    what they are under bench.sh (tpm buckets filled), not one lease and one hold per request ever made."""
    from lmgate.handoff import Handoff

    now = time.time()
    for ctx in ctxs:
        handoff = Handoff.decode(ctx)
        if handoff.lease is not None:
            await gw.policies.record_usage(handoff.key_id, handoff.owner, 554, 0.0001, now, handoff.lease)  # type: ignore[arg-type]
    ctxs.clear()


async def _cpu_per_request(gw, key: str, body: bytes, n: int) -> float:
    from multidict import CIMultiDict

    from lmgate.handlers.auth import auth

    headers = CIMultiDict(_headers(key, body))
    ctxs: list[str] = []
    for _ in range(200):  # warm caches (the engine's plan, the allow-list lookup)
        ctxs.append((await auth(gw, headers, body, {}))[1]["X-Lmgate-Ctx"])
    await _settle(gw, ctxs)
    cpu = 0.0
    for _ in range(max(1, n // BATCH)):
        t0 = time.process_time()
        for _ in range(BATCH):
            reply = await auth(gw, headers, body, {})
            ctxs.append(reply[1]["X-Lmgate-Ctx"])
        cpu += time.process_time() - t0
        assert reply[0] == 204, reply  # every request allowed: all the work, every time
        await _settle(gw, ctxs)
    return cpu / (max(1, n // BATCH) * BATCH) * 1e6


class _Transport:
    """Keeps what the protocol writes; a future per request says the answer is out."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.waiter: asyncio.Future | None = None

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def _wire_cpu_per_request(gw, key: str, body: bytes, n: int) -> float:
    from lmgate.fastpath import protocol
    from lmgate.routes import FAST_ROUTES

    head = "".join(f"{k}: {v}\r\n" for k, v in _headers(key, body))
    request = f"POST /auth HTTP/1.1\r\n{head}\r\n".encode() + body
    proto = protocol(gw, FAST_ROUTES)
    transport = _Transport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()

    async def one() -> None:
        transport.waiter = loop.create_future()
        proto.data_received(request)
        if not transport.written:
            await transport.waiter

    def ctxs() -> list[str]:
        out = []
        for reply in transport.written:
            assert reply.startswith(b"HTTP/1.1 204"), reply[:300]
            out.append(reply.split(b"X-Lmgate-Ctx: ", 1)[1].split(b"\r\n", 1)[0].decode())
        transport.written.clear()
        return out

    for _ in range(200):
        await one()
    await _settle(gw, ctxs())
    cpu = 0.0
    for _ in range(max(1, n // BATCH)):
        t0 = time.process_time()
        for _ in range(BATCH):
            await one()
        cpu += time.process_time() - t0
        await _settle(gw, ctxs())
    return cpu / (max(1, n // BATCH) * BATCH) * 1e6


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--root", type=Path, default=ROOT, help="the tree whose lmgate is measured (this one)")
    ap.add_argument("--only", help="run only the rows whose name contains this")
    ap.add_argument("--against", help="A/B: also measure this commit's (or this tree's) lmgate, rounds interleaved")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per side with --against")
    return ap.parse_args()


def ab(args: argparse.Namespace) -> None:
    """Each side in its own process per round (nothing warm carried over), interleaved; medians."""
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(args.against)
        if not other.is_dir():  # a commit, not a tree
            archive = subprocess.run(["git", "archive", args.against], cwd=ROOT, check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            other = Path(tmp)
        sides = {args.against[-12:]: other, "worktree": ROOT}
        rows: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for side, root in sides.items():
                cmd = [sys.executable, __file__, "--requests", str(args.requests), "--root", str(root)]
                out = subprocess.run(cmd + (["--only", args.only] if args.only else []), capture_output=True, text=True)
                for m in re.finditer(r"^/auth (.+?)\s+([\d.]+) µs", out.stdout, re.M):
                    rows.setdefault((m.group(1), side), []).append(float(m.group(2)))
                print(f"  {side:10} {out.stdout.strip()}".replace("\n", "  |  "))
        for (row, side), values in rows.items():
            print(f"{row:18s} {side:10s} median {statistics.median(values):6.1f} µs CPU (min {min(values):.1f})")


async def main(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(args.root.resolve()))  # run from anywhere, without installing
    body = _bench_body()
    cases = (
        ("no limits", "sk-plain", BODY, _cpu_per_request),
        ("all limits", "sk-limited", BODY, _cpu_per_request),
        ("bench.sh key", "sk-bench", body, _cpu_per_request),
        ("wire bench.sh key", "sk-bench", body, _wire_cpu_per_request),
    )
    with tempfile.TemporaryDirectory() as tmp:
        gw = _gateway(Path(tmp))
        for name, key, data, measure in cases:
            if args.only and args.only not in name:
                continue
            print(f"/auth {name:18s} {await measure(gw, key, data, args.requests):7.1f} µs CPU per request")


if __name__ == "__main__":
    ARGS = _args()
    if ARGS.against:
        ab(ARGS)
    else:
        bench_loop.run(main(ARGS))
