"""lmgate's benchmark: bare nginx vs lmgate (all policies on, DLP off and on), one command, bounded.

Run through ``scripts/bench.sh`` (it installs wrk and pins this script to the
load CPU); see docs/performance.md for what each section measures and how to
read it. Everything listens on 127.0.0.1, in a temp dir, and is stopped by PID
at the end.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import io
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout, installed or not

from lmgate.config import DEFAULT_PROVIDERS, Config, ConfigError, load_config
from lmgate.nginx_conf import write_nginx_conf

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

KEY = "sk-bench-0123456789abcdefghijklmnop"
# rpm/tpm limits a host never reaches, so they are checked on every request but refuse none
# (1e8 tpm was reached in the soak of a faster host: 4,600 req/s x 554 tokens, and its answers became 429s)
BIG = 1_000_000_000_000
TICK = os.sysconf("SC_CLK_TCK")
MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
STATUS_RE = re.compile(rb'"status":(\d+)')

PROMPT = (
    "You are reviewing a pull request for a payments service. The change moves the retry logic for "
    "card authorisations out of the HTTP handler and into a background worker that reads from a durable "
    "queue. Please summarise the risks of this change for the on-call engineer, in plain language, and "
    "suggest what we should monitor during the roll-out. Context follows. "
    "The handler used to call the card network synchronously, retrying up to three times with exponential "
    "back-off starting at 200 milliseconds, and it held the customer's request open for the whole time. "
    "Under load this tied up worker threads and made the p99 latency of the checkout page exceed four "
    "seconds on busy days. The new design acknowledges the request as soon as the authorisation intent is "
    "written to the queue, and the client polls a status endpoint. The worker pool is sized at sixteen "
    "workers per region, each processing one message at a time, with a visibility timeout of thirty "
    "seconds. Messages that fail five times go to a dead-letter queue that nobody currently watches. "
    "Idempotency is handled with a key derived from the order number and the attempt counter, stored in "
    "the same database as the orders, with a unique index. The status endpoint reads from a replica that "
    "can lag the primary by up to two seconds during vacuum. The mobile app caches the status response "
    "for five seconds. Support can be reached at payments-oncall@example.com if the queue backs up. "
    "We expect about twelve hundred authorisations per minute at peak, with short bursts to three "
    "thousand during flash sales, and the card network's own rate limit is two thousand per minute per "
    "merchant account, shared between both regions. Please keep the answer under two hundred words and "
    "list the three metrics you would put on the roll-out dashboard first, with a threshold for each."
)
ANSWER = {
    "id": "chatcmpl-BenchAbCdEfGhIjKlMnOpQrStUvWx",
    "object": "chat.completion",
    "created": 1764000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": (
                    "Main risks: the dead-letter queue is unwatched, so failed authorisations disappear "
                    "silently; replica lag plus the app cache can show customers a stale status for up "
                    "to seven seconds; and the shared network rate limit can be exceeded in flash sales, "
                    "turning retries into more failures. Watch: queue age (alert above 30 s), dead-letter "
                    "count (alert above 0), and authorisation error rate (alert above 1%)."
                ),
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 471,
        "completion_tokens": 83,
        "total_tokens": 554,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_bench0001",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def http_post(url: str, body: bytes, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_until(what: str, predicate, timeout: float = 20.0, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- processes and /proc readings


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(roots: list[int]) -> float:
    """utime+stime of the roots and every live descendant, plus what reaped children left in the roots."""
    ticks = 0
    for root in roots:
        for pid in descendants(root):
            st = _stat(pid)
            if st is None:
                continue
            ticks += int(st[11]) + int(st[12])  # utime, stime
            if pid == root:
                ticks += int(st[13]) + int(st[14])  # cutime, cstime
    return ticks / TICK


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_times(cpu: int) -> tuple[float, float, float]:
    """(tasks, irq, total) seconds of one CPU so far, from /proc/stat: tasks = user+nice+system, irq = irq+softirq."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            v = [int(x) for x in line.split()[1:]]
            return (v[0] + v[1] + v[2]) / TICK, (v[5] + v[6]) / TICK, sum(v[:8]) / TICK
    return 0.0, 0.0, 0.0


def children_cpu() -> float:
    """CPU seconds of this driver and of its finished children (wrk, the clients)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


# --- the bench environment


@dataclass
class Target:
    """One row: where to send requests and which processes are the gateway's own."""

    name: str
    base: str
    procs: list[Proc]
    stats_path: Path | None = None
    stats_offset: int = 0
    stats_lines: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    sidecar: Proc | None = None

    def roots(self) -> list[int]:
        return [p.pid for p in self.procs]

    def count_stats(self) -> int:
        """Stats lines written so far (the file is never rotated in the bench: max_bytes is huge)."""
        if self.stats_path is None or not self.stats_path.exists():
            return self.stats_lines
        with open(self.stats_path, "rb") as f:
            f.seek(self.stats_offset)
            while data := f.read(1 << 22):
                end = data.rfind(b"\n") + 1  # whole lines only; a partial one is read again next time
                if end == 0:
                    break
                data = data[:end]
                self.stats_offset += end
                self.stats_lines += data.count(b"\n")
                for m in STATUS_RE.finditer(data):
                    self.statuses[int(m.group(1))] += 1
                f.seek(self.stats_offset)
        return self.stats_lines

    def last_stats_line(self) -> dict | None:
        if self.stats_path is None or not self.stats_path.exists():
            return None
        with open(self.stats_path, "rb") as f:
            f.seek(max(0, self.stats_path.stat().st_size - 8192))
            lines = f.read().splitlines()
        return json.loads(lines[-1]) if lines else None


@dataclass
class Bench:
    args: argparse.Namespace
    root: Path
    procs: list[Proc] = field(default_factory=list)
    targets: dict[str, Target] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    upstream_procs: list[Proc] = field(default_factory=list)

    def pin(self, cpu: int | None) -> list[str]:
        return ["taskset", "-c", str(cpu)] if cpu is not None else []

    def spawn(self, name: str, cmd: list[str], stop_signal: int = signal.SIGTERM, **kw) -> Proc:
        logf = self.root / "logs" / f"{name}.log"
        popen = subprocess.Popen(
            [*self.pin(self.args.gw_cpu), *cmd],
            stdout=subprocess.DEVNULL,
            stderr=open(logf, "ab"),  # noqa: SIM115 - lives as long as the process
            stdin=subprocess.DEVNULL,
            **kw,
        )
        proc = Proc(name, popen, logf, stop_signal)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):  # nginx first (SIGQUIT: graceful), then its sidecar
            proc.stop()

    def render(self, template: str, out: str, **values: object) -> Path:
        text = (HERE / template).read_text()
        for k, v in values.items():
            text = text.replace(f"@{k}@", str(v))
        left = re.findall(r"@[A-Z_]+@", text)
        if left:
            raise RuntimeError(f"{template}: unfilled markers {left}")
        path = self.root / out
        path.write_text(text)
        return path

    # --- the servers
    def start_upstreams(self) -> None:
        for sub in ("fake", "bare"):
            for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (self.root / "tmp" / sub / t).mkdir(parents=True, exist_ok=True)
        self.json_port, self.sse_port, self.bare_port = free_port(), free_port(), free_port()
        answer = json.dumps(ANSWER, separators=(",", ":"))
        if "'" in answer or "$" in answer:
            raise RuntimeError("the fake answer must not contain ' or $ (nginx string)")
        conf = self.render(
            "fake-upstream.conf.in", "fake-upstream.conf", DIR=self.root, PORT=self.json_port, ANSWER=answer
        )
        fake = self.spawn("fake-upstream", [self.nginx, "-e", "stderr", "-c", str(conf)], signal.SIGQUIT)
        a = self.args
        sse = self.spawn(
            "sse-upstream",
            [
                sys.executable,
                str(HERE / "sse_server.py"),
                "--port",
                str(self.sse_port),
                "--tokens",
                str(a.stream_tokens),
                "--first-ms",
                str(a.stream_first_ms),
                "--gap-ms",
                str(a.stream_gap_ms),
            ],
        )
        self.upstream_procs = [fake, sse]
        self.stub_url = f"http://127.0.0.1:{self.json_port}/_bench/stub"
        wait_until("the fake upstream", lambda: http_get(self.stub_url)[0] == 200, proc=fake)
        wait_until("the SSE upstream", lambda: _connectable(self.sse_port), proc=sse)
        self.answer_bytes = len(answer)

        conf = self.render(
            "bare-nginx.conf.in",
            "bare-nginx.conf",
            DIR=self.root,
            PORT=self.bare_port,
            JSON_PORT=self.json_port,
            SSE_PORT=self.sse_port,
        )
        bare = self.spawn("bare-nginx", [self.nginx, "-e", "stderr", "-c", str(conf)], signal.SIGQUIT)
        wait_until("bare nginx", lambda: _connectable(self.bare_port), proc=bare)
        self.targets["bare"] = Target("bare nginx", f"http://127.0.0.1:{self.bare_port}", [bare])

    def upstream_count(self) -> int:
        """Requests the fake JSON upstream has served (its stub_status), less this query itself."""
        _, body = http_get(self.stub_url)
        m = re.search(rb"\n\s*\d+\s+\d+\s+(\d+)", body)
        return int(m.group(1)) if m else 0

    def start_lmgate(
        self, name: str, label: str, extra: dict | None = None, dlp_column: bool = False, max_parallel: bool = True
    ) -> None:
        d = self.root / name
        (d / "run").mkdir(parents=True, exist_ok=True)
        port, sidecar_port = free_port(), free_port()
        cols = ["id", "api_key", "owner", "added", "models", "rpm", "tpm", "budget_usd", "budget_period"]
        cols += ["max_parallel"] + (["dlp"] if dlp_column else [])
        row = ["bench", KEY, "bench-team", "2026-01-01", "gpt-4o*", BIG, BIG, 1_000_000_000, "month"]
        row.append(1000 if max_parallel else "")
        row += ["log"] if dlp_column else []
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        w.writerow(row)
        (d / "allowlist.csv").write_text(out.getvalue())
        providers: dict = {p: None for p in DEFAULT_PROVIDERS}  # no default provider: nothing to resolve
        providers["openai"] = {"kind": "openai", "upstream": f"http://127.0.0.1:{self.json_port}", "prefix": "/openai"}
        providers["sse"] = {"kind": "openai", "upstream": f"http://127.0.0.1:{self.sse_port}", "prefix": "/sse"}
        config = {
            "server": {"host": "127.0.0.1", "port": port, "run_dir": str(d / "run"), "worker_processes": "1"},
            "sidecar": sidecar_ports(sidecar_port),
            "allowlist": {"path": str(d / "allowlist.csv")},
            # the spool where it lives by default (memory), named after this run so it goes with it
            "stats": {"path": str(d / "stats.jsonl"), "max_bytes": "1TiB", "spool_dir": str(spool_dir(d))},
            "providers": providers,
        }
        for section, values in (extra or {}).items():
            config.setdefault(section, {}).update(values)
        cfg_path = d / "lmgate.yaml"
        cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
        try:
            cfg = load_config(cfg_path, {})
        except ConfigError as e:
            self.skipped[name] = f"{label}: this lmgate's config rejects it ({' '.join(str(e).split())})"
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith("LMGATE_")}
        env.update(LMGATE_CONFIG=str(cfg_path), LMGATE_LOG_LEVEL=self.args.log_level)
        sidecar = self.spawn(f"{name}-sidecar", [sys.executable, "-m", "lmgate", "serve"], env=env, cwd=d)
        health = f"http://127.0.0.1:{sidecar_port}/healthz"
        try:
            wait_until(f"the {label} sidecar", lambda: http_get(health)[0] == 200, timeout=60, proc=sidecar)
        except RuntimeError as e:
            tail = sidecar.log.read_text(errors="replace").strip().splitlines()[-3:]
            self.skipped[name] = f"{label}: the sidecar did not start ({e}): {' | '.join(tail)}"
            sidecar.stop()
            return
        conf = write_nginx_conf(cfg)
        nginx = self.spawn(f"{name}-nginx", [self.nginx, "-e", "stderr", "-c", str(conf)], signal.SIGQUIT)
        base = f"http://127.0.0.1:{port}"
        wait_until(f"{label} nginx", lambda: http_get(base + "/lmgate/healthz")[0] == 200, proc=nginx)
        self.targets[name] = Target(label, base, [nginx, sidecar], stats_path=d / "stats.jsonl", sidecar=sidecar)

    def nginx_workers(self, target: Target) -> list[int]:
        return [p for p in descendants(target.procs[0].pid) if p != target.procs[0].pid]

    @property
    def nginx(self) -> str:
        return shutil.which("nginx") or "nginx"


def sidecar_ports(port: int) -> dict[str, int]:
    """``sidecar.port`` and a free port for every other ``*port`` setting the sidecar has (e.g. ``fast_port``)."""
    out = {"port": port}
    section = Config.model_fields["sidecar"].annotation
    for name in getattr(section, "model_fields", {}):
        if name.endswith("port") and name != "port":
            out[name] = free_port()
    return out


def _connectable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# --- load runs


def run_load(bench: Bench, cmd: list[str], timeout: float) -> str:
    full = [*bench.pin(bench.args.load_cpu), *cmd]
    res = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    return res.stdout


def wrk(bench: Bench, url: str, seconds: float, connections: int) -> dict:
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
            str(bench.root / "body.json"),
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


def saturation_run(bench: Bench, key: str, seconds: float) -> dict:
    t = bench.targets[key]
    waited = wait_quiet(bench)
    stats0 = t.count_stats() if t.stats_path else 0
    status0 = dict(t.statuses)
    up0 = bench.upstream_count()
    with Meter(bench, t) as m:
        w = wrk(bench, t.base + "/openai" + CHAT, seconds, bench.args.connections)
    time.sleep(0.5)  # requests wrk cut off inside the gateway may still be forwarded
    up1 = bench.upstream_count()
    forwarded = up1 - up0 - 1  # less the first stub query itself
    n = w["requests"]
    res = {
        "rps": n / (w["duration_us"] / 1e6),
        "requests": n,
        "p50_ms": w["p50_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "non2xx": w["status"],
        "sock_errors": w["connect"] + w["read"] + w["write"] + w["timeout"],
        "cpu_us": m.cpu / n * 1e6 if n else None,
        "cpu_parts_us": [c / n * 1e6 for c in m.parts] if n else None,
        "cpu_util": m.cpu / m.wall * 100,
        "upstream_cpu_us": m.up / n * 1e6 if n else None,
        "forwarded": forwarded,
        "quiet_wait_s": waited,
        **m.noise(),
    }
    if t.stats_path:
        lines = wait_stats(t, stats0 + forwarded)
        res["stats_lines"] = lines - stats0
        res["stats_status"] = {s: c - status0.get(s, 0) for s, c in t.statuses.items() if c - status0.get(s, 0)}
    return res


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


def fixed_rate_run(bench: Bench, key: str, rate: float | None = None) -> dict:
    a = bench.args
    args = ["--rate", str(rate or a.rate), "--seconds", str(a.rate_seconds)]
    res, m = client_run(bench, key, "fixed-rate", "/openai" + CHAT, "body.json", args, a.rate_seconds + 60)
    n = res["completed"]
    res["cpu_us"] = m.cpu / n * 1e6 if n else None
    res["cpu_parts_us"] = [c / n * 1e6 for c in m.parts] if n else None
    res["cpu_util"] = m.cpu / m.wall * 100
    return res


def stream_run(bench: Bench, key: str) -> dict:
    a = bench.args
    args = ["--concurrency", str(a.stream_concurrency), "--seconds", str(a.stream_seconds)]
    return client_run(bench, key, "streams", "/sse" + CHAT, "stream.json", args, a.stream_seconds + 90)[0]


# --- report helpers


def med(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs: list[float | None], fmt: str = "{:.2f}", width: int = 0) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-".rjust(width)
    if len(xs) == 1:
        return fmt.format(xs[0]).rjust(width)
    text = f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"
    return text.rjust(width)


def f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


# --- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/bench.sh",
        description="bare nginx vs lmgate: throughput, latency, streams, stats completeness, sidecar memory",
    )
    p.add_argument("--quick", action="store_true", help="a short smoke run (about 2 minutes)")
    p.add_argument("--rounds", type=int, help="rounds of interleaved rows (full 5, quick 2)")
    p.add_argument("--seconds", type=float, help="seconds per saturation run (full 10, quick 2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections at saturation (64)")
    p.add_argument("--rate", type=float, default=200.0, help="requests/s of the fixed-rate runs (200)")
    p.add_argument("--dlp-rate", type=float, default=50.0, help="requests/s of the DLP off/on comparison (50)")
    p.add_argument("--rate-seconds", type=float, help="seconds per fixed-rate run (full 10, quick 3)")
    p.add_argument("--stream-seconds", type=float, help="seconds per stream run (full 10, quick 3)")
    p.add_argument("--stream-concurrency", type=int, default=8, help="streams in flight (8)")
    p.add_argument("--stream-tokens", type=int, default=20, help="token chunks per stream (20)")
    p.add_argument("--stream-first-ms", type=float, default=10.0, help="upstream delay to the first token (10)")
    p.add_argument("--stream-gap-ms", type=float, default=10.0, help="upstream delay between tokens (10)")
    p.add_argument("--soak", type=int, help="requests of the sidecar RSS soak (full 1000000, quick 20000; 0: skip)")
    p.add_argument("--soak-max-seconds", type=float, default=1800, help="stop the soak after this long (1800)")
    p.add_argument("--no-dlp", action="store_true", help="skip the lmgate+dlp row")
    p.add_argument("--gw-cpu", type=int, default=0, help="CPU for the gateway and the fake upstreams (0)")
    p.add_argument("--load-cpu", type=int, default=1, help="CPU for wrk and the measuring clients (1)")
    p.add_argument("--no-pin", action="store_true", help="do not pin (results are then not comparable)")
    p.add_argument("--quiet-wait", type=float, help="wait up to this long before each run for idle CPUs (15/5)")
    p.add_argument("--quiet-pct", type=float, default=10.0, help="a CPU is idle below this %% busy (10)")
    p.add_argument("--log-level", default="INFO", help="the sidecar's LMGATE_LOG_LEVEL (INFO, as deployed)")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="instead of the benchmark: profile the lmgate row at saturation (py-spy on the sidecar, perf on "
        "nginx and the sidecar) and write the profiles into DIR",
    )
    p.add_argument(
        "--ablate",
        action="store_true",
        help="instead of the benchmark: lmgate's nginx config with parts switched off (stats, capture, /auth "
        "answered by nginx itself), to see what each part costs at saturation",
    )
    p.add_argument("--profile-seconds", type=float, default=20.0, help="seconds per profile (20)")
    p.add_argument("--json", type=Path, help="also write every raw measurement to this file")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, stats) for inspection")
    a = p.parse_args(argv)
    full = not a.quick
    a.rounds = a.rounds or (5 if full else 2)
    a.seconds = a.seconds or (10.0 if full else 2.0)
    a.rate_seconds = a.rate_seconds or (10.0 if full else 3.0)
    a.quiet_wait = (15.0 if full else 5.0) if a.quiet_wait is None else a.quiet_wait
    a.stream_seconds = a.stream_seconds or (10.0 if full else 3.0)
    a.soak = (1_000_000 if full else 20_000) if a.soak is None else a.soak
    if a.no_pin or (os.cpu_count() or 1) < 2:
        a.gw_cpu = a.load_cpu = None
    return a


def versions(bench: Bench) -> str:
    nginx = subprocess.run([bench.nginx, "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    njs = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-http-js"], capture_output=True, text=True
        )
        njs = out.stdout.split("-")[0] or "?"
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1:2] or ["?"]
    mods = []
    for m in ("uvloop", "orjson", "aiohttp"):
        try:
            mod = __import__(m)
            mods.append(f"{m} {getattr(mod, '__version__', '?')}")
        except ImportError:
            mods.append(f"no {m}")
    git = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True)
        git = head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    return (
        f"nginx {nginx}, njs {njs}, Python {platform.python_version()} ({', '.join(mods)}), "
        f"wrk {wrk_v[0]}; lmgate {git}"
    )


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def chat_body() -> dict:
    """The request every row sends (scripts/bench_dlp_cpu.py scans the same)."""
    return {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a concise senior engineer."},
            {"role": "user", "content": PROMPT},
        ],
        "temperature": 0.2,
        "max_tokens": 300,
    }


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="lmgate-bench-"))
    (root / "logs").mkdir()
    bench = Bench(a, root)
    body = chat_body()
    (root / "body.json").write_bytes(json.dumps(body).encode())
    stream_body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    (root / "stream.json").write_bytes(json.dumps(stream_body).encode())
    raw: dict = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}}
    started = time.monotonic()

    def on_term(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        if a.profile:
            run_profile(bench)
        elif a.ablate:
            run_ablation(bench)
        else:
            run_all(bench, raw)
    except KeyboardInterrupt:
        log("interrupted: stopping the servers")
        return 130
    finally:
        bench.stop_all()
        if a.json:
            a.json.write_text(json.dumps(raw, indent=1))
        if a.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            for name in ("lmgate", "dlp"):
                shutil.rmtree(spool_dir(root / name), ignore_errors=True)
        log(f"total time {time.monotonic() - started:.0f} s")
    return 0


def run_all(bench: Bench, raw: dict) -> None:
    a = bench.args
    out = Report()
    log(f"starting servers in {bench.root} ...")
    bench.start_upstreams()
    bench.start_lmgate("lmgate", "lmgate")
    if "lmgate" not in bench.targets:
        raise RuntimeError(bench.skipped.get("lmgate", "lmgate did not start"))
    if not a.no_dlp:
        bench.start_lmgate("dlp", "lmgate+dlp", extra={"dlp": {"mode": "log"}})
        if "dlp" in bench.targets:  # the sidecar answers before its scanner processes are up: wait for them
            side = bench.targets["dlp"].sidecar
            try:
                wait_until("the DLP scanner", lambda: "scanner ready" in side.log.read_text(errors="replace"), 90)
            except RuntimeError:
                log("the DLP sidecar never logged 'scanner ready'; going on (its first requests may be unscanned)")
    rows = [k for k in ("bare", "lmgate", "dlp") if k in bench.targets]

    # sanity: every row answers 200 with the fake's JSON, lmgate writes usage
    body = (bench.root / "body.json").read_bytes()
    for key in rows:
        t = bench.targets[key]
        status, _, data = http_post(t.base + "/openai" + CHAT, body)
        if status != 200 or b"chat.completion" not in data:
            raise RuntimeError(f"{t.name}: sanity request answered {status}: {data[:300]!r}")
    sidecar = bench.targets["lmgate"].sidecar
    rss_idle = rss_kib(sidecar.pid)
    time.sleep(1.5)
    sample = bench.targets["lmgate"].last_stats_line() or {}

    mode = "quick (smoke) run" if a.quick else "full run"
    out(f"lmgate benchmark: {mode}, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    if a.gw_cpu is not None:
        out(
            f"layout    gateway + fake upstreams pinned to CPU {a.gw_cpu}; wrk and the measuring clients to CPU "
            f"{a.load_cpu} (taskset); {os.cpu_count()} CPUs, {cpu_model()}, Linux {platform.release()}"
        )
    else:
        out(f"layout    NOT pinned (--no-pin or one CPU): numbers are not comparable; {os.cpu_count()} CPUs")
    out(f"software  {versions(bench)}")
    out(
        f"request   POST /openai{CHAT}, {len(body)} B JSON ({len(PROMPT)} B prompt, model {MODEL}); "
        f"answer {bench.answer_bytes} B JSON from nginx `return 200`"
    )
    out(
        f"streams   POST /sse{CHAT} stream=true: {a.stream_tokens} token chunks, first after "
        f"{a.stream_first_ms:g} ms, then every {a.stream_gap_ms:g} ms (Python SSE server)"
    )
    out(
        f"lmgate    allow-list key: models=gpt-4o*, rpm={BIG}, tpm={BIG}, budget_usd=1e9/month, "
        f"max_parallel=1000; stats on; policy store memory; 1 nginx worker; sidecar log level {a.log_level}"
    )
    cost = sample.get("cost_usd")
    out(
        f"          a stats line: key_id={sample.get('key_id')} model={sample.get('model')} "
        f"tokens={sample.get('input_tokens')}+{sample.get('output_tokens')} cost_usd={cost}"
        + ("" if cost is not None else "  (cost not computed by this lmgate)")
    )
    if "dlp" in bench.targets:
        out("dlp row   as lmgate, plus dlp.mode=log (the same 2 KB prompt is scanned)")
    for reason in bench.skipped.values():
        out(f"SKIPPED   {reason.replace(str(bench.root), '<tmp>')}")
    out(f"rounds    {a.rounds}, rows interleaved within each round; cells: median (min–max) over rounds")
    raw["rows"] = {k: bench.targets[k].name for k in rows}

    # warm-up: each row once at saturation, not reported
    for key in rows:
        log(f"warm-up {bench.targets[key].name} ...")
        wrk(bench, bench.targets[key].base + "/openai" + CHAT, 2 if a.quick else 3, a.connections)
    for key in rows:
        if bench.targets[key].stats_path:
            wait_stats(bench.targets[key], bench.targets[key].count_stats() + 10**9, timeout=4)

    # 1. saturation
    sat: dict[str, list[dict]] = {k: [] for k in rows}
    for r in range(a.rounds):
        for key in rows:
            log(f"saturation round {r + 1}/{a.rounds}: {bench.targets[key].name} ...")
            sat[key].append(saturation_run(bench, key, a.seconds))
    raw["saturation"] = sat
    out()
    out(f"1. Saturation: wrk -t1 -c{a.connections}, {a.seconds:g} s per run, POST with the 2 KB prompt")
    out("   CPU µs/req: the row's own processes (nginx master+workers; sidecar and its children), utime+stime;")
    out("   CPU%: of the gateway CPU; si%: its irq+softirq time (loopback networking, not in any process);")
    out(f"   noise%: CPU time of processes outside the bench, gateway CPU / load CPU (! when over {a.quiet_pct:g}%)")
    out(
        f"   {'row':<11} {'rnd':>3} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'sockerr':>7}"
        f" {'CPU µs/req':>10} {'= nginx + sidecar':>17} {'CPU%':>5} {'si%':>4} {'noise%':>9} {'vs bare':>7}"
    )
    for r in range(a.rounds):
        bare_rps = sat["bare"][r]["rps"]
        for key in rows:
            x = sat[key][r]
            parts = x["cpu_parts_us"] or []
            split = f"{parts[0]:.0f} + {parts[1]:.0f}" if len(parts) == 2 else ""
            out(
                f"   {bench.targets[key].name:<11} {r + 1:>3} {x['rps']:>7.0f} {x['p50_ms']:>7.2f} {x['p99_ms']:>7.2f}"
                f" {x['non2xx']:>7} {x['sock_errors']:>7} {f(x['cpu_us'], '{:.0f}'):>10} {split:>17}"
                f" {x['cpu_util']:>5.0f} {f(x['irq_pct'], '{:.0f}'):>4} {noise(x, a):>9} {x['rps'] / bare_rps:>7.3f}"
            )
    out("   summary: median (min–max) over rounds")
    for key in rows:
        xs = sat[key]
        ratios = [x["rps"] / b["rps"] for x, b in zip(xs, sat["bare"], strict=True)]
        parts = [x["cpu_parts_us"] for x in xs if x["cpu_parts_us"]]
        split = ""
        if parts and len(parts[0]) == 2:
            split = f" (nginx {med([p[0] for p in parts]):.0f} + sidecar {med([p[1] for p in parts]):.0f})"
        out(
            f"   {bench.targets[key].name:<11} req/s {spread([x['rps'] for x in xs], '{:.0f}')}, "
            f"vs bare {spread(ratios, '{:.3f}')}"
        )
        out(
            f"   {'':<11} p50 {spread([x['p50_ms'] for x in xs])} ms, p99 {spread([x['p99_ms'] for x in xs])} ms, "
            f"non-2xx {sum(x['non2xx'] for x in xs)}, CPU {spread([x['cpu_us'] for x in xs], '{:.0f}')} µs/req{split}"
        )
    up_us = med([x["upstream_cpu_us"] for x in sat["bare"]])
    out(f"   (the fake JSON upstream itself costs {f(up_us, '{:.0f}')} µs/req, on the gateway CPU, in every row)")

    # 2. fixed rate (the DLP row cannot sustain --rate on one CPU: it gets its own, lower rate in 2b)
    frows = [k for k in rows if k != "dlp"]
    fr: dict[str, list[dict]] = {k: [] for k in frows}
    for r in range(a.rounds):
        for key in frows:
            log(f"fixed rate round {r + 1}/{a.rounds}: {bench.targets[key].name} ...")
            fr[key].append(fixed_rate_run(bench, key))
    raw["fixed_rate"] = fr
    out()
    out(
        f"2. Fixed rate: {a.rate:g} req/s open loop, {a.rate_seconds:g} s per run (scripts/bench/clients.py); "
        "latency from the actual send;"
    )
    out("   +p50/+p99: minus bare nginx in the same round; late: sends the client made >2 ms behind schedule")
    out(
        f"   {'row':<11} {'rnd':>3} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p99.9':>7} {'max ms':>7}"
        f" {'+p50':>6} {'+p99':>6} {'non-2xx':>7} {'err':>4} {'late':>5} {'CPU µs/req':>10} {'noise%':>9}"
    )
    for r in range(a.rounds):
        b = fr["bare"][r]["latency_ms"]
        for key in frows:
            x = fr[key][r]
            lat = x["latency_ms"]
            out(
                f"   {bench.targets[key].name:<11} {r + 1:>3} {f(lat['p50'], '{:.3f}'):>7} {f(lat['p90'], '{:.3f}'):>7}"
                f" {f(lat['p99'], '{:.3f}'):>7} {f(lat['p999'], '{:.2f}'):>7} {f(lat['max'], '{:.2f}'):>7}"
                f" {lat['p50'] - b['p50']:>6.3f} {lat['p99'] - b['p99']:>6.3f} {x['non2xx']:>7}"
                f" {x['errors'] + x['unanswered']:>4} {x['client_late_2ms']:>5} {f(x['cpu_us'], '{:.0f}'):>10}"
                f" {noise(x, a):>9}"
            )
    out("   summary: median (min–max) over rounds")
    added: dict[str, tuple[list[float], list[float]]] = {}
    for key in frows:
        xs = fr[key]
        line = (
            f"   {bench.targets[key].name:<11} p50 {spread([x['latency_ms']['p50'] for x in xs], '{:.3f}')} ms, "
            f"p99 {spread([x['latency_ms']['p99'] for x in xs], '{:.3f}')} ms"
        )
        if key != "bare":
            d50 = [x["latency_ms"]["p50"] - y["latency_ms"]["p50"] for x, y in zip(xs, fr["bare"], strict=True)]
            d99 = [x["latency_ms"]["p99"] - y["latency_ms"]["p99"] for x, y in zip(xs, fr["bare"], strict=True)]
            added[key] = (d50, d99)
            line += f"; added p50 {spread(d50, '{:+.3f}')} ms, p99 {spread(d99, '{:+.3f}')} ms"
        out(line)
    dlp_added = None
    if "dlp" in rows:
        dr: dict[str, list[dict]] = {"lmgate": [], "dlp": []}
        for r in range(a.rounds):
            for key in dr:
                log(f"DLP fixed rate round {r + 1}/{a.rounds}: {bench.targets[key].name} ...")
                dr[key].append(fixed_rate_run(bench, key, a.dlp_rate))
        raw["dlp_fixed_rate"] = dr
        out()
        out(f"2b. DLP: lmgate with DLP off and on (dlp.mode=log), {a.dlp_rate:g} req/s open loop, same 2 KB prompt")
        for key, xs in dr.items():
            out(
                f"   {bench.targets[key].name:<11} p50 {spread([x['latency_ms']['p50'] for x in xs], '{:.3f}')} ms, "
                f"p99 {spread([x['latency_ms']['p99'] for x in xs], '{:.3f}')} ms, non-2xx "
                f"{sum(x['non2xx'] for x in xs)}, CPU {spread([x['cpu_us'] for x in xs], '{:.0f}')} µs/req"
            )
        dlp_added = [
            x["latency_ms"]["p50"] - y["latency_ms"]["p50"] for x, y in zip(dr["dlp"], dr["lmgate"], strict=True)
        ]
        d99 = [x["latency_ms"]["p99"] - y["latency_ms"]["p99"] for x, y in zip(dr["dlp"], dr["lmgate"], strict=True)]
        out(f"   DLP on minus off, per round: p50 {spread(dlp_added, '{:+.3f}')} ms, p99 {spread(d99, '{:+.3f}')} ms")

    # 3. streams
    srows = [k for k in ("bare", "lmgate") if k in rows]
    st: dict[str, list[dict]] = {k: [] for k in srows}
    for r in range(a.rounds):
        for key in srows:
            log(f"streams round {r + 1}/{a.rounds}: {bench.targets[key].name} ...")
            st[key].append(stream_run(bench, key))
    raw["streams"] = st
    out()
    out(f"3. Streams: {a.stream_concurrency} concurrent streams, {a.stream_seconds:g} s per run; all in ms")
    out("   TTFB: send -> headers; TTFT: send -> first token chunk; gap: between token chunks as received;")
    out("   transit: chunk arrival - the upstream's write time stamped in it (same clock): the delay added per chunk")
    out(
        f"   {'row':<11} {'rnd':>3} {'streams':>7} {'TTFB p50':>8} {'p99':>6} {'TTFT p50':>8} {'p99':>6}"
        f" {'gap p50':>7} {'p99':>6} {'max':>6} {'transit p50':>11} {'p99':>6} {'non-2xx':>7} {'err':>4} {'noise%':>9}"
    )
    for r in range(a.rounds):
        for key in srows:
            x = st[key][r]
            out(
                f"   {bench.targets[key].name:<11} {r + 1:>3} {x['streams']:>7} {f(x['ttfb_ms']['p50'], '{:.3f}'):>8}"
                f" {f(x['ttfb_ms']['p99'], '{:.2f}'):>6} {f(x['ttft_ms']['p50'], '{:.3f}'):>8}"
                f" {f(x['ttft_ms']['p99'], '{:.2f}'):>6} {f(x['gap_ms']['p50'], '{:.3f}'):>7}"
                f" {f(x['gap_ms']['p99'], '{:.2f}'):>6} {f(x['gap_ms']['max'], '{:.2f}'):>6}"
                f" {f(x['transit_ms']['p50'], '{:.3f}'):>11} {f(x['transit_ms']['p99'], '{:.2f}'):>6}"
                f" {x['non2xx']:>7} {x['errors'] + x['short']:>4} {noise(x, a):>9}"
            )
    sd: dict[tuple[str, str], list[float]] = {}
    if "lmgate" in srows:
        for what in ("ttfb_ms", "ttft_ms", "gap_ms", "transit_ms"):
            for p in ("p50", "p99"):
                sd[(what, p)] = [
                    x[what][p] - b[what][p]
                    for x, b in zip(st["lmgate"], st["bare"], strict=True)
                    if x[what][p] is not None and b[what][p] is not None
                ]
        out("   summary: lmgate minus bare nginx in the same round, median (min–max) over rounds")
        for what, label in (("ttfb_ms", "TTFB"), ("ttft_ms", "TTFT"), ("gap_ms", "gap"), ("transit_ms", "transit")):
            out(
                f"   {label:<8} p50 {spread(sd[(what, 'p50')], '{:+.3f}')} ms, "
                f"p99 {spread(sd[(what, 'p99')], '{:+.3f}')} ms"
            )

    # 4. stats completeness (from the saturation runs)
    out()
    out("4. Stats completeness after each saturation run: every request the upstream served must have its line.")
    out("   Lines may exceed that: requests wrk cuts off when it stops get a client_disconnect line even when they")
    out("   never reached the upstream (status 499; 9 before lmgate 4b80bb8). missing = served - lines.")
    completeness: list[float] = []
    for key in rows:
        if key == "bare":
            continue
        for r, x in enumerate(sat[key]):
            pct = completeness_pct(x["forwarded"], x["stats_lines"])
            if pct is not None:
                completeness.append(pct)
            statuses = ", ".join(f"{s}: {c}" for s, c in sorted(x["stats_status"].items()))
            out(
                f"   {bench.targets[key].name:<11} round {r + 1}: wrk answers {x['requests']}, upstream served "
                f"{x['forwarded']}, stats lines {x['stats_lines']} ({statuses}), missing "
                f"{max(0, x['forwarded'] - x['stats_lines'])} -> {f(pct, '{:.3f}')}%"
            )

    # 5. RSS soak
    soak = None
    if a.soak > 0:
        soak = rss_soak(bench, out)
        raw["soak"] = soak
        pct = completeness_pct(soak["forwarded"], soak["stats_lines"])
        if pct is not None:
            completeness.append(pct)

    # targets
    out()
    out("Targets (for information; median over rounds)")
    ratio = med([x["rps"] / b["rps"] for x, b in zip(sat["lmgate"], sat["bare"], strict=True)])
    target_line(out, "lmgate req/s >= 20% of bare nginx", f"{ratio * 100:.1f}%", ratio >= 0.2)
    d50, d99 = (med(v) for v in added["lmgate"])
    target_line(out, f"added p50 <= 0.5 ms at {a.rate:g} req/s", f"{d50:+.3f} ms", d50 <= 0.5)
    target_line(out, f"added p99 <= 2 ms at {a.rate:g} req/s", f"{d99:+.3f} ms", d99 <= 2.0)
    if sd:
        dt = med(sd[("ttft_ms", "p50")])
        target_line(out, "stream first token <= 0.5 ms later (p50)", f"{dt:+.3f} ms", dt <= 0.5)
        g50, t50 = med(sd[("gap_ms", "p50")]), med(sd[("transit_ms", "p50")])
        same = abs(g50) <= 0.25 and abs(t50) <= 0.1
        target_line(out, "chunk gaps identical (gap ±0.25, transit ±0.1 ms p50)", f"{g50:+.3f} / {t50:+.3f} ms", same)
    low = min(completeness) if completeness else None
    target_line(
        out,
        "stats completeness 100% at saturation",
        "-" if low is None else f"{low:.3f}% (lowest run)",
        None if low is None else low >= 100.0,
    )
    if soak and soak.get("growth_pct") is not None:
        g = soak["growth_pct"]
        target_line(out, f"sidecar RSS growth <= 10% over {soak['requests']} req", f"{g:+.1f}%", g <= 10)
    if dlp_added is not None:
        dd = med(dlp_added)
        target_line(out, f"DLP on adds <= 3 ms p50 (2 KB prompt, {a.dlp_rate:g} req/s)", f"{dd:+.3f} ms", dd <= 3.0)
    else:
        target_line(out, "DLP on adds <= 3 ms p50 (2 KB prompt)", "not measured (row skipped)", None)
    out()
    runs = [x for group in (sat, fr, st, raw.get("dlp_fixed_rate", {})) for xs in group.values() for x in xs]
    noisy = sum(1 for x in runs if is_noisy(x, a))
    waited = sum(x.get("quiet_wait_s", 0) for x in runs)
    out(
        f"noise     {noisy} of {len(runs)} runs had over {a.quiet_pct:g}% of a CPU taken by other processes "
        f"(waited {waited:.0f} s in all for quieter moments)"
    )
    out(
        f"sidecar   RSS {rss_idle / 1024:.1f} MiB idle after start; lines in the sidecar log during the run: "
        f"{log_lines(bench)}"
    )
    raw["report"] = out.lines


def noise(x: dict, a: argparse.Namespace) -> str:
    gw, load = x.get("other_pct"), x.get("load_other_pct")
    if gw is None and load is None:
        return "-"
    return f"{f(gw, '{:.0f}')}/{f(load, '{:.0f}')}" + ("!" if is_noisy(x, a) else " ")


def is_noisy(x: dict, a: argparse.Namespace) -> bool:
    return any((x.get(k) or 0) > a.quiet_pct for k in ("other_pct", "load_other_pct"))


def completeness_pct(forwarded: int, lines: int) -> float | None:
    if forwarded <= 0:
        return None
    return (forwarded - max(0, forwarded - lines)) / forwarded * 100


def spool_dir(target_dir: Path) -> Path:
    """A target's stats spool: in /dev/shm like lmgate's default, else beside its files."""
    shm = Path("/dev/shm")
    return shm / f"lmgate-bench-{target_dir.parent.name}-{target_dir.name}" if shm.is_dir() else target_dir / "spool"


def target_line(out: Report, what: str, value: str, ok: bool | None) -> None:
    out(f"   {what + ' ':.<58} {value:<24} {verdict(ok)}")


VARIANTS = {
    "full": "lmgate as rendered",
    "no-stats": "without the stats spool's access_log (no stats line)",
    "no-capture": "without the js_body_filter response capture",
    "auth-stub": "/auth answered by the fake upstream's nginx (204 allow) instead of the sidecar; stats kept",
    "njs-only": "/auth answered by the fake upstream's nginx, no stats, no capture: the njs glue and proxying",
    "aiohttp-noop": "lmgate's nginx config with a do-nothing aiohttp sidecar (scripts/bench/noop_sidecar.py), no stats",
}


def run_ablation(bench: Bench) -> None:
    """lmgate's rendered nginx config with parts removed, each its own nginx, sharing one sidecar."""
    a = bench.args
    log(f"starting servers in {bench.root} ...")
    bench.start_upstreams()
    # no max_parallel: without stats lines (variant no-stats) its slots would never be given back
    bench.start_lmgate("lmgate", "lmgate", max_parallel=False)
    t = bench.targets["lmgate"]
    rendered = (bench.root / "lmgate" / "run" / "nginx.conf").read_text()
    port = int(t.base.rsplit(":", 1)[1])
    noop_port = free_port()
    noop = bench.spawn("noop-sidecar", [sys.executable, str(HERE / "noop_sidecar.py"), "--port", str(noop_port)])
    wait_until("the no-op sidecar", lambda: http_get(f"http://127.0.0.1:{noop_port}/healthz")[0] == 200, proc=noop)
    for name in VARIANTS:
        if name == "full":
            continue
        text = rendered.replace(f"listen 127.0.0.1:{port};", f"listen 127.0.0.1:{(p := free_port())};")
        text = text.replace("nginx.pid;", f"nginx-{name}.pid;")
        if name in ("no-stats", "njs-only", "aiohttp-noop"):  # the no-op sidecar reads no spool
            text = re.sub(r"access_log \S+ lmgate_spool;", "", text)
        if name in ("no-capture", "njs-only"):
            text = text.replace("js_body_filter gate.capture buffer_type=buffer;", "")
        if name in ("auth-stub", "njs-only"):  # the fake upstream's nginx answers /auth: a sidecar that costs 0
            text = re.sub(r"proxy_pass http://lmgate_\w+/auth;", "proxy_pass http://bench_auth/auth;", text)
            stub = f"upstream bench_auth {{ server 127.0.0.1:{bench.json_port}; keepalive 64; }}\n    "
            text = text.replace("upstream lmgate_sidecar {", stub + "upstream lmgate_sidecar {", 1)
        if name == "aiohttp-noop":  # every sidecar upstream (the API one and a fast path's) -> the no-op
            text = re.sub(
                r"(upstream lmgate_(?:sidecar|fast) \{\s*server )[\d.:]+;", rf"\g<1>127.0.0.1:{noop_port};", text
            )
        conf = bench.root / f"nginx-{name}.conf"
        conf.write_text(text)
        proc = bench.spawn(f"nginx-{name}", [bench.nginx, "-e", "stderr", "-c", str(conf)], signal.SIGQUIT)
        base = f"http://127.0.0.1:{p}"
        wait_until(f"nginx {name}", lambda base=base: http_get(base + "/lmgate/healthz")[0] == 200, proc=proc)
        side = noop if name == "aiohttp-noop" else t.sidecar
        bench.targets[name] = Target(f"lmgate {name}", base, [proc, side], sidecar=side)
    bench.targets["full"] = t
    body = (bench.root / "body.json").read_bytes()
    for name in VARIANTS:
        status, _, data = http_post(bench.targets[name].base + "/openai" + CHAT, body)
        if status != 200:
            raise RuntimeError(f"variant {name} answered {status}: {data[:200]!r}")
    rows = ["bare", *VARIANTS]
    for key in rows:
        log(f"warm-up {key} ...")
        wrk(bench, bench.targets[key].base + "/openai" + CHAT, 2, a.connections)
    res: dict[str, list[dict]] = {k: [] for k in rows}
    rate: dict[str, list[dict]] = {k: [] for k in rows}
    streams: dict[str, list[dict]] = {k: [] for k in rows}
    for r in range(a.rounds):
        for key in rows:
            log(f"ablation round {r + 1}/{a.rounds}: {key} ...")
            res[key].append(saturation_run(bench, key, a.seconds))
            rate[key].append(fixed_rate_run(bench, key))
            streams[key].append(stream_run(bench, key))
    print(f"Ablation: lmgate's nginx config with parts removed; wrk -t1 -c{a.connections}, {a.seconds:g} s per run,")
    print(f"{a.rounds} rounds interleaved; median (min–max). CPU µs/req = nginx (master+worker) + the one sidecar.")
    print("All rows: the allow-list key has models, rpm, tpm and budget, no max_parallel (see no-stats).")
    for key in rows:
        xs = res[key]
        parts = [x["cpu_parts_us"] for x in xs if x["cpu_parts_us"]]
        ng = med([p[0] for p in parts])
        sc = med([p[1] for p in parts]) if parts and len(parts[0]) > 1 else None
        ratios = [x["rps"] / b["rps"] for x, b in zip(xs, res["bare"], strict=True)]
        print(
            f"  {key:<12} req/s {spread([x['rps'] for x in xs], '{:.0f}'):>20}  vs bare {spread(ratios, '{:.3f}'):>20}"
            f"  CPU µs/req {spread([x['cpu_us'] for x in xs], '{:.0f}'):>14} = nginx {f(ng, '{:.0f}')} + sidecar "
            f"{f(sc, '{:.0f}')}  non-2xx {sum(x['non2xx'] for x in xs)}"
            f"  noise {max((x.get('other_pct') or 0) for x in xs):.0f}%"
        )
    print(f"At {a.rate:g} req/s (open loop, {a.rate_seconds:g} s; no batching: each request wakes each process):")
    for key in rows:
        xs = rate[key]
        print(
            f"  {key:<12} p50 {spread([x['latency_ms']['p50'] for x in xs], '{:.3f}'):>22} ms, p99 "
            f"{spread([x['latency_ms']['p99'] for x in xs], '{:.3f}'):>22} ms, CPU "
            f"{spread([x['cpu_us'] for x in xs], '{:.0f}'):>14} µs/req = nginx "
            f"{f(med([x['cpu_parts_us'][0] for x in xs]), '{:.0f}')} + sidecar "
            f"{f(med([x['cpu_parts_us'][1] for x in xs if len(x['cpu_parts_us']) > 1]), '{:.0f}')}"
        )
    print(
        f"Streams ({a.stream_concurrency} concurrent, {a.stream_seconds:g} s; each connection sends its next "
        "request as soon as a stream ends, as SDKs do), minus bare nginx in the same round:"
    )
    for key in rows:
        added = {
            what: [x[what]["p50"] - b[what]["p50"] for x, b in zip(streams[key], streams["bare"], strict=True)]
            for what in ("ttfb_ms", "ttft_ms")
        }
        print(
            f"  {key:<12} TTFB p50 {spread(added['ttfb_ms'], '{:+.3f}'):>24} ms, "
            f"TTFT p50 {spread(added['ttft_ms'], '{:+.3f}'):>24} ms"
        )
    for key, what in VARIANTS.items():
        print(f"  {key:<12} {what}")


def run_profile(bench: Bench) -> None:
    """Profile the lmgate row at saturation: where the sidecar's and nginx's CPU time goes."""
    a = bench.args
    outdir: Path = a.profile.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    perf = shutil.which("perf")
    log(f"starting servers in {bench.root} ...")
    bench.start_upstreams()
    bench.start_lmgate("lmgate", "lmgate")
    t = bench.targets["lmgate"]
    url = t.base + "/openai" + CHAT
    sidecar = t.sidecar
    workers = bench.nginx_workers(t)
    log("warm-up ...")
    wrk(bench, url, 3, a.connections)
    secs = a.profile_seconds
    cfg = load_config(bench.root / "lmgate" / "lmgate.yaml", {})
    ports = {k: v for k, v in cfg.sidecar.model_dump().items() if k.endswith("port") and isinstance(v, int)}
    before = {k: tcp_states(p) for k, p in ports.items()}
    sampler = subprocess.Popen(
        [*bench.pin(a.load_cpu), "sh", "-c", f"sleep {secs / 4:.1f}; ss -tanH"], stdout=subprocess.PIPE, text=True
    )
    base = wrk(bench, url, secs / 2, a.connections)
    snapshot = sampler.communicate()[0]
    during = {k: tcp_states(p, snapshot) for k, p in ports.items()}
    after = {k: tcp_states(p) for k, p in ports.items()}
    n = base["requests"]
    print(f"lmgate at saturation without a profiler: {n / (base['duration_us'] / 1e6):.0f} req/s ({n} requests)")
    for k in ports:
        print(
            f"nginx -> sidecar.{k} TCP connections: before {before[k]}, during {during[k]}, after {after[k]} "
            "(keep-alive works when TIME-WAIT stays near 0 while thousands of requests pass)"
        )

    def under_load(what: str, cmd: list[str]) -> None:
        log(f"profiling: {what} ...")
        prof = subprocess.Popen([*bench.pin(a.load_cpu), *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        w = wrk(bench, url, secs, a.connections)
        try:
            _, err = prof.communicate(timeout=secs + 60)
        except subprocess.TimeoutExpired:
            prof.send_signal(signal.SIGINT)
            _, err = prof.communicate(timeout=30)
        rps = w["requests"] / (w["duration_us"] / 1e6)
        print(f"{what}: {rps:.0f} req/s while profiling; exit {prof.returncode} {err.decode(errors='replace')[-200:]}")

    if Path(pyspy).exists():
        raw_file = outdir / "sidecar.pyspy.txt"
        under_load(
            "py-spy record (raw) on the sidecar",
            [
                pyspy,
                "record",
                "-p",
                str(sidecar.pid),
                "-r",
                "100",
                "-d",
                str(int(secs)),
                "--format",
                "raw",
                "-o",
                str(raw_file),
            ],
        )
        under_load(
            "py-spy record (flame graph) on the sidecar",
            [
                pyspy,
                "record",
                "-p",
                str(sidecar.pid),
                "-r",
                "100",
                "-d",
                str(int(secs)),
                "-o",
                str(outdir / "sidecar.svg"),
            ],
        )
        if raw_file.exists():
            print()
            print(summarize_collapsed(raw_file.read_text()))
    else:
        print("py-spy not found: scripts/bench.sh --profile installs it (pip install py-spy==0.4.3)")
    if perf:
        for name, pids in (("nginx", workers), ("sidecar", [sidecar.pid])):
            data = outdir / f"{name}.perf.data"
            under_load(
                f"perf record on the {name}",
                [
                    perf,
                    "record",
                    "-F",
                    "999",
                    "-g",
                    "-o",
                    str(data),
                    "-p",
                    ",".join(map(str, pids)),
                    "--",
                    "sleep",
                    str(int(secs)),
                ],
            )
            for sort, suffix in (("dso", "by-dso"), ("dso,symbol", "by-symbol")):
                rep = subprocess.run(
                    [
                        perf,
                        "report",
                        "-i",
                        str(data),
                        "--stdio",
                        "--no-children",
                        "--sort",
                        sort,
                        "--percent-limit",
                        "0.5",
                        "-g",
                        "none",
                    ],
                    capture_output=True,
                    text=True,
                )
                (outdir / f"{name}.perf-{suffix}.txt").write_text(rep.stdout)
                lines = [x for x in rep.stdout.splitlines() if x.strip() and not x.startswith("#")]
                print(f"\nperf, {name} worker(s), self time {suffix}:")
                print("\n".join("  " + x.strip() for x in lines[:25]))
    else:
        print("perf not found: apt-get install linux-perf for the nginx profile")
    print(f"\nprofiles written to {outdir}")


def tcp_states(port: int, text: str | None = None) -> dict[str, int]:
    """Counts of TCP states of the connections to 127.0.0.1:port, from ``ss -tanH``."""
    if text is None:
        text = subprocess.run(["ss", "-tanH"], capture_output=True, text=True).stdout
    states: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 5:
            continue
        # each link once, from nginx's side; TIME-WAIT is left on whichever side closed first
        if cols[4].endswith(f":{port}") or (cols[0] == "TIME-WAIT" and cols[3].endswith(f":{port}")):
            states[cols[0]] += 1
    return dict(states)


def summarize_collapsed(text: str, top: int = 30) -> str:
    """Self and inclusive sample shares per Python function from py-spy's collapsed stacks."""
    selfc: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = [fr for fr in stack.split(";") if not fr.startswith("process ") and not fr.startswith("thread ")]
        if not frames or frames[-1].startswith("_worker (concurrent/futures/thread"):
            continue  # empty, or a thread-pool worker waiting for work (py-spy does not see that as idle)
        total += count
        names = [re.sub(r" \((.*?)(\.py)?:\d+\)$", r" (\1)", fr) for fr in frames]
        names = [re.sub(r"\(.*?/(site-packages|lib/python3\.\d+|lmgate)/", r"(\1/", n) for n in names]
        selfc[names[-1]] += count
        for name in set(names):
            incl[name] += count
    out = [f"py-spy: {total} samples of the sidecar's busy time (idle waits left out)"]
    out.append("  self %  function (file)")
    out += [f"  {c / total * 100:6.1f}  {name}" for name, c in selfc.most_common(top)]
    out.append("  incl %  function (file)")
    out += [f"  {c / total * 100:6.1f}  {name}" for name, c in incl.most_common(top + 15)]
    return "\n".join(out)


def log_lines(bench: Bench) -> str:
    parts = []
    for key in ("lmgate", "dlp"):
        t = bench.targets.get(key)
        if t is not None:
            text = t.sidecar.log.read_text(errors="replace")
            parts.append(f"{t.name} {text.count(chr(10))}")
    return ", ".join(parts)


def rss_soak(bench: Bench, out: Report) -> dict:
    a = bench.args
    t = bench.targets["lmgate"]
    sidecar = t.sidecar
    url = t.base + "/openai" + CHAT
    stats0 = t.count_stats()
    up0 = bench.upstream_count()
    before = rss_kib(sidecar.pid)
    nginx_before = sum(rss_kib(p) for p in bench.nginx_workers(t))
    samples = [(0, before)]
    done = non2xx = 0
    started = time.monotonic()
    segment = 20.0 if not a.quick else 2.0
    rps_guess = None
    log(f"RSS soak: {a.soak} requests on lmgate (sidecar RSS {before / 1024:.1f} MiB) ...")
    while done < a.soak and time.monotonic() - started < a.soak_max_seconds:
        left = a.soak - done
        seconds = segment if rps_guess is None else max(1.0, min(segment, left / rps_guess))
        w = wrk(bench, url, seconds, a.connections)
        done += w["requests"]
        non2xx += w["status"]
        rps_guess = w["requests"] / (w["duration_us"] / 1e6)
        samples.append((done, rss_kib(sidecar.pid)))
        t.count_stats()
        log(f"  {done} requests, sidecar RSS {samples[-1][1] / 1024:.1f} MiB")
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    up1 = bench.upstream_count()
    forwarded = up1 - up0 - 1
    lines = wait_stats(t, stats0 + forwarded, timeout=30) - stats0
    after = rss_kib(sidecar.pid)
    nginx_after = sum(rss_kib(p) for p in bench.nginx_workers(t))
    growth = (after - before) / before * 100 if before else None
    out()
    capped = " (stopped by --soak-max-seconds)" if done < a.soak else ""
    out(
        f"5. Sidecar memory: lmgate at saturation for {done} requests{capped} in {elapsed:.0f} s (after the runs above)"
    )
    step = max(1, len(samples) // 10)
    picks = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    out("   requests -> sidecar RSS MiB: " + ", ".join(f"{n}: {k / 1024:.1f}" for n, k in picks))
    out(
        f"   sidecar RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB ({f(growth, '{:+.1f}')}%); nginx worker RSS "
        f"{nginx_before / 1024:.1f} -> {nginx_after / 1024:.1f} MiB"
    )
    pct = completeness_pct(forwarded, lines)
    out(
        f"   stats completeness over the soak: wrk answers {done} (non-2xx {non2xx}), upstream served {forwarded}, "
        f"stats lines {lines}, missing {max(0, forwarded - lines)} -> {f(pct, '{:.3f}')}%"
    )
    return {
        "requests": done,
        "non2xx": non2xx,
        "seconds": elapsed,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "growth_pct": growth,
        "samples": samples,
        "nginx_rss_kib": [nginx_before, nginx_after],
        "forwarded": forwarded,
        "stats_lines": lines,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
