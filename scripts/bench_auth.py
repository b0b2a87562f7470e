#!/usr/bin/env python3
"""Micro-benchmark of the sidecar's /auth handler: process CPU µs per request, called in-process.

Builds the gateway the sidecar builds (memory store, a temp dir for its files) and
asks ``handlers.auth.auth`` what nginx asks: an OpenAI chat request with a key of
no limits (the fast path), and one with every limit set high (models, budget,
max_parallel, rpm, tpm: all judged, all committed). CPU time over a known number of
requests holds up on a busy machine far better than wall time.

    .venv/bin/python scripts/bench_auth.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import yaml
from multidict import CIMultiDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, without installing

from lmgate.config import load_config
from lmgate.gateway import Gateway
from lmgate.handlers.auth import auth

BIG = 10**9
BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'


def _gateway(root: Path) -> Gateway:
    rows = ["id,owner,added,api_key,models,rpm,tpm,budget_usd,max_parallel"]
    rows.append(f"plain,team,2026-01-01,sha256:{hashlib.sha256(b'sk-plain').hexdigest()},,,,,")
    rows.append(
        f"limited,team,2026-01-01,sha256:{hashlib.sha256(b'sk-limited').hexdigest()},gpt-*,{BIG},{BIG},1e9,{BIG}"
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


async def _cpu_per_request(gw: Gateway, key: str, n: int) -> float:
    headers = CIMultiDict(
        {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "X-Lmgate-Provider": "openai",
            "X-Lmgate-Uri": "/openai/v1/chat/completions",
            "X-Lmgate-Request-Id": "r1",
        }
    )
    for _ in range(200):  # warm caches (the engine's plan, the allow-list lookup)
        await auth(gw, headers, BODY, {})
    t0 = time.process_time()
    for _ in range(n):
        reply = await auth(gw, headers, BODY, {})
    cpu = time.process_time() - t0
    assert reply[0] == 204, reply  # every request allowed: all the work, every time
    return cpu / n * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gw = _gateway(Path(tmp))
        for name, key in (("no limits", "sk-plain"), ("all limits", "sk-limited")):
            print(f"/auth {name:10s} {await _cpu_per_request(gw, key, args.requests):7.1f} µs CPU per request")


if __name__ == "__main__":
    asyncio.run(main())
