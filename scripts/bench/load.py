"""Running load on the load CPU and metering it: wrk, the measuring clients, the CPU they cost, quiet moments."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from processes import log
from procfs import children_cpu, cpu_seconds, cpu_times
from servers import HERE, Bench, Target
from workload import BODY, KEY


def run_load(bench: Bench, cmd: list[str], timeout: float) -> str:
    full = [*bench.pin(bench.args.load_cpu), *cmd]
    res = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    return res.stdout


def wrk(bench: Bench, url: str, seconds: float, connections: int, body: str = BODY) -> dict:
    """One closed-loop wrk run POSTing the body file ``body``; wrk's summary (scripts/bench/post.lua) as a dict."""
    out = run_load(
        bench,
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",
            "-s",
            str(HERE / "post.lua"),
            url,
            "--",
            str(bench.root / body),
            KEY,
        ],
        timeout=seconds + 60,
    )
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out[-500:]}")
    return json.loads(line[len("WRKJSON ") :])


@dataclass
class Meter:
    """CPU of a row's processes and of the upstreams across one run, and what else ran on the two CPUs."""

    bench: Bench
    target: Target

    def __enter__(self) -> Meter:
        a = self.bench.args
        self.t0 = time.monotonic()
        self.cpu0 = cpu_seconds(self.target.roots())
        self.up0 = cpu_seconds([p.pid for p in self.bench.upstream_procs])
        self.parts0 = [cpu_seconds([p.pid]) for p in self.target.procs]
        self.mine0 = children_cpu()
        self.gw0 = cpu_times(a.gw_cpu) if a.gw_cpu is not None else None
        self.load0 = cpu_times(a.load_cpu) if a.load_cpu is not None else None
        return self

    def __exit__(self, *exc) -> None:
        a = self.bench.args
        self.wall = time.monotonic() - self.t0
        self.cpu = cpu_seconds(self.target.roots()) - self.cpu0
        self.up = cpu_seconds([p.pid for p in self.bench.upstream_procs]) - self.up0
        self.parts = [cpu_seconds([p.pid]) - a for p, a in zip(self.target.procs, self.parts0, strict=True)]
        mine = children_cpu() - self.mine0
        self.other = self.irq = self.load_other = None
        if self.gw0 is not None:
            tasks, irq, total = (b - x for x, b in zip(self.gw0, cpu_times(a.gw_cpu), strict=True))
            if total > 0:
                # gateway CPU time of tasks that are neither this row nor the upstreams (idle rows count: ~0)
                self.other = max(0.0, tasks - self.cpu - self.up) / total * 100
                self.irq = irq / total * 100  # loopback networking's softirq work is accounted here
        if self.load0 is not None:
            tasks, _, total = (b - x for x, b in zip(self.load0, cpu_times(a.load_cpu), strict=True))
            if total > 0:
                self.load_other = max(0.0, tasks - mine) / total * 100

    def noise(self) -> dict:
        return {"other_pct": self.other, "irq_pct": self.irq, "load_other_pct": self.load_other}

    def per_request(self, n: int) -> dict:
        """CPU µs per request of the row (and split per process: nginx, sidecar) and its share of the wall time."""
        return {
            "cpu_us": self.cpu / n * 1e6 if n else None,
            "cpu_parts_us": [c / n * 1e6 for c in self.parts] if n else None,
            "cpu_util": self.cpu / self.wall * 100,
        }


def wait_quiet(bench: Bench) -> float:
    """Wait (at most --quiet-wait s) until neither CPU is busy with work outside the bench; returns the wait."""
    a = bench.args
    if a.gw_cpu is None or a.quiet_wait <= 0:
        return 0.0
    started = time.monotonic()
    while True:
        before = [cpu_times(c) for c in (a.gw_cpu, a.load_cpu)]
        mine = children_cpu()
        time.sleep(0.5)
        after = [cpu_times(c) for c in (a.gw_cpu, a.load_cpu)]
        mine = children_cpu() - mine
        busy = [(y[0] - x[0]) / max(1e-9, y[2] - x[2]) * 100 for x, y in zip(before, after, strict=True)]
        busy[1] = max(0.0, busy[1] - mine / 0.5 * 100)
        waited = time.monotonic() - started
        if max(busy) < a.quiet_pct or waited >= a.quiet_wait:
            if waited >= 1:
                log(f"  (waited {waited:.0f} s for the CPUs to calm down: {busy[0]:.0f}% / {busy[1]:.0f}% busy)")
            return waited


def wait_stats(t: Target, want: int, timeout: float = 20.0) -> int:
    """Stats lines once they reach ``want`` or stop growing for 3 s (the writer flushes every second)."""
    deadline = time.monotonic() + timeout
    last, since = t.count_stats(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        n = t.count_stats()
        if n >= want:
            time.sleep(1.2)  # and anything still arriving past what we expected
            return t.count_stats()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 3.0:
            return n
    return t.count_stats()


def client_run(
    bench: Bench, key: str, mode: str, path: str, body: str, args: list[str], timeout: float
) -> tuple[dict, Meter]:
    """One run of ``clients.py <mode>`` against a row: its JSON result (with the machine's noise) and the CPU meter."""
    t = bench.targets[key]
    waited = wait_quiet(bench)
    with Meter(bench, t) as m:
        cmd = [sys.executable, str(HERE / "clients.py"), mode, t.base + path, *args]
        cmd += ["--body", str(bench.root / body), "--header", f"Authorization: Bearer {KEY}"]
        cmd += ["--header", "Content-Type: application/json"]
        res = json.loads(run_load(bench, cmd, timeout=timeout))
    res.update(quiet_wait_s=waited, **m.noise())
    return res, m


def interleaved(
    bench: Bench, what: str, keys: list[str], run: Callable[[str], dict], label: Callable[[str], str] | None = None
) -> dict[str, list[dict]]:
    """``--rounds`` rounds, each running every row once in turn (noise spreads over rows); results per row."""
    a = bench.args
    label = label or (lambda key: bench.targets[key].name)
    res: dict[str, list[dict]] = {k: [] for k in keys}
    for r in range(a.rounds):
        for key in keys:
            log(f"{what} round {r + 1}/{a.rounds}: {label(key)} ...")
            res[key].append(run(key))
    return res
