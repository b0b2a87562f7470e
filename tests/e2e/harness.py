"""Runs the real gateway for end-to-end tests: nginx with the real njs, and the sidecar.

Both are separate processes on free loopback ports, rendered from a config
written into a temp dir, with every provider pointed at the fake upstream.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
import yaml

from lmgate.config import load_config
from lmgate.nginx_conf import write_nginx_conf

REPO = Path(__file__).resolve().parents[2]
PROVIDER_NAMES = ("openai", "anthropic", "gemini", "vertex", "azure", "groq")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def allowlist_csv(rows: list[tuple]) -> str:
    extra_columns = sorted({c for row in rows if len(row) > 3 for c in row[3]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "api_key", "owner", "added", *extra_columns])
    for row in rows:
        extra = row[3] if len(row) > 3 else {}
        writer.writerow([*row[:3], "2026-11-22", *(extra.get(c, "") for c in extra_columns)])
    return out.getvalue()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Gateway:
    def __init__(
        self, root: Path, upstream_url: str, settings: dict | None = None, env: dict[str, str] | None = None
    ) -> None:
        """``settings``: config sections merged over the defaults (a provider entry added or replaced whole);
        ``env``: extra environment variables of the sidecar (e.g. the secrets ``env:NAME`` references name)."""
        self.root = root
        self.port = free_port()
        self.sidecar_port = free_port()
        self.fast_port = free_port()
        self.allowlist = root / "allowlist.csv"
        self.stats_path = root / "stats.jsonl"
        self.config_path = root / "lmgate.yaml"
        self.log_dir = root / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # in memory as by default, where nginx's workers (nobody, under a root nginx) can reach it; gone at stop()
        shm = Path("/dev/shm")
        self.spool_dir = Path(tempfile.mkdtemp(prefix="lmgate-test-", dir=shm)) if shm.is_dir() else root / "spool"
        config = {
            "server": {"host": "127.0.0.1", "port": self.port, "run_dir": str(root / "run"), "worker_processes": "1"},
            "sidecar": {"port": self.sidecar_port, "fast_port": self.fast_port, "auth_timeout": 2.0},
            "allowlist": {"path": str(self.allowlist), "reload_interval": 0.2},
            "stats": {"path": str(self.stats_path), "flush_interval": 0.1, "spool_dir": str(self.spool_dir)},
            "providers": {name: {"upstream": upstream_url} for name in PROVIDER_NAMES},
        }
        for section, values in (settings or {}).items():
            config.setdefault(section, {}).update(values)
        self.config_path.write_text(yaml.safe_dump(config))
        self.tls_port: int | None = config["server"].get("tls_port")
        self.env = {**os.environ, "LMGATE_CONFIG": str(self.config_path), "LMGATE_LOG_LEVEL": "INFO"}
        self.env = {
            k: v
            for k, v in self.env.items()
            if not k.startswith("LMGATE_") or k in ("LMGATE_CONFIG", "LMGATE_LOG_LEVEL")
        }
        self.env.update(env or {})
        self.sidecar: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None

    # --- processes
    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, rows: list[tuple] | None = None) -> Gateway:
        """Start the sidecar and nginx, with the allow-list ``rows`` first if given (``with Gateway(...) as gw``
        stops them when the block ends, also if starting failed)."""
        if rows is not None:
            self.write_allowlist(rows, wait=False)
        self.start_sidecar()
        config = load_config(self.config_path, {})
        conf = write_nginx_conf(config)
        self.nginx = subprocess.Popen(
            [shutil.which("nginx") or "/usr/sbin/nginx", "-e", "stderr", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_dir / "nginx.log", "ab"),  # noqa: SIM115 - lives as long as nginx
        )
        wait_for(lambda: self._get("/lmgate/healthz") == 200, what="nginx /lmgate/healthz")
        return self

    def start_sidecar(self) -> None:
        self.sidecar = subprocess.Popen(
            [sys.executable, "-m", "lmgate", "serve"],
            env=self.env,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_dir / "sidecar.log", "ab"),  # noqa: SIM115
        )
        wait_for(lambda: self._sidecar_up(), what="sidecar /healthz")

    def _sidecar_up(self) -> bool:
        if self.sidecar is not None and self.sidecar.poll() is not None:
            raise AssertionError(f"sidecar exited with {self.sidecar.returncode}: {self.sidecar_log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.sidecar_port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop_sidecar(self, sig: int = signal.SIGTERM) -> None:
        if self.sidecar and self.sidecar.poll() is None:
            self.sidecar.send_signal(sig)
            self.sidecar.wait(15)

    def stop(self) -> None:
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        self.stop_sidecar()
        shutil.rmtree(self.spool_dir, ignore_errors=True)

    def sidecar_log(self) -> str:
        return (self.log_dir / "sidecar.log").read_text(errors="replace")

    def nginx_log(self) -> str:
        return (self.log_dir / "nginx.log").read_text(errors="replace")

    # --- client side
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str:
        """The TLS listener (``server.tls_port``), by the name the test certificates are made for."""
        if self.tls_port is None:
            raise AssertionError("this gateway has no server.tls_port")
        return f"https://localhost:{self.tls_port}"

    def _get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0

    # --- allow-list and stats
    def write_allowlist(self, rows: list[tuple], wait: bool = True) -> None:
        """Replace the allow-list; with ``wait``, return once a running sidecar has loaded it.

        A row is ``(id, key, owner)`` or ``(id, key, owner, {column: value})`` for optional columns.
        """
        self.write_allowlist_text(allowlist_csv(rows), wait)

    def write_allowlist_text(self, text: str, wait: bool = True) -> None:
        before = self._reloads()
        tmp = self.allowlist.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.allowlist)  # atomic, as an editor's save usually is
        if wait and self.sidecar is not None and self.sidecar.poll() is None:
            wait_for(lambda: self._reloads() > before, timeout=5, what="the sidecar to reload the allow-list")

    def _reloads(self) -> int:
        path = self.log_dir / "sidecar.log"
        return path.read_text(errors="replace").count("allow-list reloaded") if path.exists() else 0

    def stats_lines(self) -> list[dict]:
        if not self.stats_path.exists():
            return []
        return [orjson.loads(x) for x in self.stats_path.read_bytes().splitlines() if x.strip()]

    def fresh(self, fake) -> Gateway:
        """For the next test: the fake upstream cleared, only stats lines from now on (``next_stats``)."""
        fake.clear()
        self.mark_stats()
        return self

    def mark_stats(self) -> None:
        """Later ``next_stats`` calls return only lines written after this point."""
        self._stats_seen = len(self.stats_lines())

    def stats_for(self, request_id: str, timeout: float = 5.0) -> dict:
        def find():
            return next((r for r in self.stats_lines() if r["request_id"] == request_id), None)

        return wait_for(find, timeout=timeout, what=f"stats line of {request_id}")

    def next_stats(self, count: int = 1, timeout: float = 5.0) -> list[dict]:
        """The next ``count`` lines not yet returned since ``mark_stats``, waiting for them."""
        start = getattr(self, "_stats_seen", 0)
        wait_for(lambda: len(self.stats_lines()) >= start + count, timeout=timeout, what=f"{count} new stats lines")
        self._stats_seen = start + count
        return self.stats_lines()[start : start + count]
