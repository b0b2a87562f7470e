"""The processes under test: the fake upstreams, bare nginx and lmgate rows, started in a temp dir and stopped by PID.

lmgate is driven through its public surface only: ``lmgate.config.load_config``
(to learn its defaults), ``python -m lmgate nginx-conf --write`` and
``python -m lmgate serve``, as an operator would run it.
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from processes import Proc, connectable, free_port, http_get, wait_until
from procfs import descendants
from workload import BIG, KEY, answer_json

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout, installed or not

from lmgate.config import load_config

HERE = Path(__file__).resolve().parent
STATUS_RE = re.compile(rb'"status":(\d+)')
# a provider's upstream{} block in lmgate's rendered config, up to its pool size (for --upstream-keepalive)
UPSTREAM_POOL_RE = re.compile(r"(upstream lmgate_up_\w+ \{\s*server [^;]+;\s*keepalive )\d+;")


@dataclass
class Target:
    """One gateway under test: where to send requests and which processes are its own."""

    name: str
    base: str
    procs: list[Proc]
    stats_path: Path | None = None
    stats_offset: int = 0
    stats_lines: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    sidecar: Proc | None = None
    conf: Path | None = None  # lmgate's rendered nginx config
    ports: dict[str, int] = field(default_factory=dict)  # lmgate's sidecar.*port settings

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


@dataclass(frozen=True)
class LmgateDefaults:
    """What lmgate has with an empty config file."""

    providers: tuple[str, ...]  # its default provider entries: the bench switches them off
    sidecar_settings: tuple[str, ...]  # those set by default, e.g. port: every *port gets a free port
    upstream_keepalive: int  # its pools' size: bare nginx gets the same, like for like


def lmgate_defaults(root: Path) -> LmgateDefaults:
    empty = root / "empty.yaml"
    empty.write_text("{}\n")
    cfg = load_config(empty, {})
    ports = tuple(k for k, v in cfg.sidecar.model_dump().items() if v is not None)  # an unset fast_port stays unset
    return LmgateDefaults(tuple(cfg.providers), ports, cfg.server.upstream_keepalive)


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
        answer = answer_json()
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
        wait_until("the SSE upstream", lambda: connectable(self.sse_port), proc=sse)
        self.answer_bytes = len(answer)

        conf = self.render(
            "bare-nginx.conf.in",
            "bare-nginx.conf",
            DIR=self.root,
            PORT=self.bare_port,
            JSON_PORT=self.json_port,
            SSE_PORT=self.sse_port,
            KEEPALIVE=a.upstream_keepalive or lmgate_defaults(self.root).upstream_keepalive,
        )
        bare = self.spawn("bare-nginx", [self.nginx, "-e", "stderr", "-c", str(conf)], signal.SIGQUIT)
        wait_until("bare nginx", lambda: connectable(self.bare_port), proc=bare)
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
        defaults = lmgate_defaults(self.root)
        providers: dict = {p: None for p in defaults.providers}  # no default provider: nothing to resolve
        providers["openai"] = {"kind": "openai", "upstream": f"http://127.0.0.1:{self.json_port}", "prefix": "/openai"}
        providers["sse"] = {"kind": "openai", "upstream": f"http://127.0.0.1:{self.sse_port}", "prefix": "/sse"}
        ports = sidecar_ports(sidecar_port, defaults.sidecar_settings)
        config = {
            "server": {"host": "127.0.0.1", "port": port, "run_dir": str(d / "run"), "worker_processes": "1"},
            "sidecar": ports,
            "allowlist": {"path": str(d / "allowlist.csv")},
            # the spool where it lives by default (memory), named after this run so it goes with it
            "stats": {"path": str(d / "stats.jsonl"), "max_bytes": "1TiB", "spool_dir": str(spool_dir(d))},
            "providers": providers,
        }
        if self.args.rollups_store:  # the shared usage store (before/after: the same run without it)
            config["rollups"] = {"store": self.args.rollups_store}
        for section, values in (extra or {}).items():
            config.setdefault(section, {}).update(values)
        cfg_path = d / "lmgate.yaml"
        cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
        env = {k: v for k, v in os.environ.items() if not k.startswith("LMGATE_")}
        env.update(LMGATE_CONFIG=str(cfg_path), LMGATE_LOG_LEVEL=self.args.log_level)
        rendered = subprocess.run(
            [sys.executable, "-m", "lmgate", "nginx-conf", "--write"],
            env={**env, "LMGATE_LOG_LEVEL": "ERROR"},
            cwd=d,
            capture_output=True,
            text=True,
        )
        if rendered.returncode != 0:
            reason = rendered.stderr.strip().split(" ERROR lmgate: ", 1)[-1]  # the message, without the log prefix
            self.skipped[name] = f"{label}: this lmgate's config rejects it ({' '.join(reason.split())})"
            return
        conf = Path(rendered.stdout.strip().splitlines()[-1])
        if self.args.upstream_keepalive:
            set_upstream_keepalive(conf, self.args.upstream_keepalive)
        sidecar = self.spawn(f"{name}-sidecar", [sys.executable, "-m", "lmgate", "serve"], env=env, cwd=d)
        health = f"http://127.0.0.1:{sidecar_port}/healthz"
        try:
            wait_until(f"the {label} sidecar", lambda: http_get(health)[0] == 200, timeout=60, proc=sidecar)
        except RuntimeError as e:
            tail = sidecar.log.read_text(errors="replace").strip().splitlines()[-3:]
            self.skipped[name] = f"{label}: the sidecar did not start ({e}): {' | '.join(tail)}"
            sidecar.stop()
            return
        nginx = self.spawn(f"{name}-nginx", [self.nginx, "-e", "stderr", "-c", str(conf)], signal.SIGQUIT)
        base = f"http://127.0.0.1:{port}"
        wait_until(f"{label} nginx", lambda: http_get(base + "/lmgate/healthz")[0] == 200, proc=nginx)
        self.targets[name] = Target(
            label, base, [nginx, sidecar], stats_path=d / "stats.jsonl", sidecar=sidecar, conf=conf, ports=ports
        )

    def nginx_workers(self, target: Target) -> list[int]:
        return [p for p in descendants(target.procs[0].pid) if p != target.procs[0].pid]

    @property
    def nginx(self) -> str:
        return shutil.which("nginx") or "nginx"


def sidecar_ports(port: int, settings: tuple[str, ...]) -> dict[str, int]:
    """``sidecar.port`` and a free port for every other ``*port`` setting the sidecar has (e.g. ``fast_port``)."""
    out = {"port": port}
    for name in settings:
        if name.endswith("port") and name != "port":
            out[name] = free_port()
    return out


def set_upstream_keepalive(conf: Path, links: int) -> None:
    """``--upstream-keepalive``: the pool size of every provider upstream in lmgate's rendered config."""
    text, found = UPSTREAM_POOL_RE.subn(rf"\g<1>{links};", conf.read_text())
    if not found:
        raise RuntimeError(f"--upstream-keepalive: no provider upstream with a keepalive pool in {conf}")
    conf.write_text(text)


def spool_dir(target_dir: Path) -> Path:
    """A target's stats spool: in /dev/shm like lmgate's default, else beside its files."""
    shm = Path("/dev/shm")
    return shm / f"lmgate-bench-{target_dir.parent.name}-{target_dir.name}" if shm.is_dir() else target_dir / "spool"
