"""Runs the real gateway for end-to-end tests: nginx with the real njs, and the sidecar.

Both are separate processes on free loopback ports, rendered from a config
written into a temp dir, with every provider pointed at the fake upstream.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import orjson
import yaml

from lmgate.config import load_config
from lmgate.nginx_conf import write_nginx_conf
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
PROVIDER_NAMES = ("openai", "anthropic", "gemini", "vertex", "azure", "groq")


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


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


def alive(pid: int) -> bool:
    """``pid`` runs and is no zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Gateway:
    def __init__(
        self, root: Path, upstream_url: str, settings: dict | None = None, env: dict[str, str] | None = None
    ) -> None:
        """``settings``: config sections merged over the defaults (a provider entry added or replaced whole);
        ``env``: extra environment variables of the sidecar (e.g. the secrets ``env:NAME`` references name)."""
        self.root = root
        self.port = free_port()
        self.sidecar_port = free_port()
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
            "sidecar": {"port": self.sidecar_port, "auth_timeout": 2.0},  # /auth: on its socket in the spool
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
        self.nginx_prefix: Path | None = None  # nginx -p: e.g. an empty dir, as a build whose default prefix is missing
        #: the command that runs nginx with a rendered config (default: ``nginx -e stderr -c CONF``)
        self.nginx_command: Callable[[Path], list[str]] | None = None
        self.up: subprocess.Popen | None = None  # `lmgate up`, when started by start_up

    # --- processes
    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, rows: list[tuple] | None = None, ready: bool = True) -> Gateway:
        """Start the sidecar and nginx, with the allow-list ``rows`` first if given (``with Gateway(...) as gw``
        stops them when the block ends, also if starting failed); with ``ready``, return once nginx's
        /lmgate/healthz says 200 (the DLP scanner may take seconds), else as soon as nginx answers at all."""
        if rows is not None:
            self.write_allowlist(rows, wait=False)
        self.start_sidecar()
        config = load_config(self.config_path, {})
        conf = write_nginx_conf(config)
        prefix = ["-p", str(self.nginx_prefix)] if self.nginx_prefix else []
        command = [shutil.which("nginx") or "/usr/sbin/nginx", *prefix, "-e", "stderr", "-c", str(conf)]
        self.nginx = subprocess.Popen(
            self.nginx_command(conf) if self.nginx_command else command,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_dir / "nginx.log", "ab"),  # noqa: SIM115 - lives as long as nginx
        )
        if ready:
            wait_for(lambda: self._get("/lmgate/healthz") == 200, timeout=60, what="nginx /lmgate/healthz")
        else:
            wait_for(lambda: self._get("/lmgate/healthz") != 0, what="nginx to answer")
        return self

    def start_up(self, *args: str) -> Gateway:
        """Run ``lmgate up`` (the supervisor of the sidecar and nginx) instead; its output goes to logs/up.log."""
        self.up = subprocess.Popen(
            [sys.executable, "-m", "lmgate", "up", *args],
            env=self.env,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_dir / "up.log", "ab"),  # noqa: SIM115 - lives as long as the process
        )

        def healthy() -> bool:
            if self.up is not None and self.up.poll() is not None:
                raise AssertionError(f"lmgate up exited with {self.up.returncode}: {self.up_log()}")
            return "lmgate is up" in self.up_log() and self._get("/lmgate/healthz") == 200

        wait_for(healthy, timeout=60, what="lmgate up: supervising, and nginx /lmgate/healthz 200")
        return self

    def up_log(self) -> str:
        return (self.log_dir / "up.log").read_text(errors="replace")

    def up_children(self) -> dict[str, int]:
        """Pids of what ``lmgate up`` runs now, from its log: ``sidecar``, ``nginx`` (the master), and ``spare``
        (a sidecar waiting to take over) once one is ready."""
        found = {}
        for name, pid in re.findall(r"(sidecar|nginx) (?:re)?started \(pid (\d+)\)", self.up_log()):
            found[name] = int(pid)
        spares = re.findall(r"a spare sidecar is ready \(pid (\d+)\)", self.up_log())
        if spares and int(spares[-1]) != found.get("sidecar"):
            found["spare"] = int(spares[-1])
        return found

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
        """The sidecar answers /healthz: 200, or 503 while its DLP scanner starts."""
        if self.sidecar is not None and self.sidecar.poll() is not None:
            raise AssertionError(f"sidecar exited with {self.sidecar.returncode}: {self.sidecar_log()}")
        return self.sidecar_health() != 0

    def sidecar_health(self) -> int:
        """The sidecar's own /healthz status (0: no answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.sidecar_port}/healthz", timeout=1) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0

    def stop_sidecar(self, sig: int = signal.SIGTERM) -> None:
        if self.sidecar and self.sidecar.poll() is None:
            self.sidecar.send_signal(sig)
            self.sidecar.wait(15)

    def stop(self) -> None:
        if self.up and self.up.poll() is None:
            self.up.send_signal(signal.SIGTERM)  # it stops nginx, then the sidecar
            try:
                self.up.wait(40)
            except subprocess.TimeoutExpired:
                self.up.kill()
                self.up.wait()
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

    def reloaded_after(self, edit: Callable[[], T]) -> T:
        """Run ``edit`` (a change of the allow-list by other means, e.g. ``lmgate keys``); its result once the
        sidecar has reloaded the file."""
        before = self._reloads()
        result = edit()
        wait_for(lambda: self._reloads() > before, timeout=10, what="the sidecar to reload the allow-list")
        return result

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


class RepeatKey(httpx.HTTPTransport):
    """Sends the SDK's JSON body with one top-level key repeated: ``key: value`` first, then the SDK's own
    copy. Most parsers keep the last copy, some the first: the gateway and the provider could differ."""

    def __init__(self, key: str, value: object) -> None:
        super().__init__()
        self.prefix = b"{" + orjson.dumps(key) + b":" + orjson.dumps(value) + b","

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = self.prefix + request.read()[1:]
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
        return super().handle_request(httpx.Request(request.method, request.url, headers=headers, content=body))
