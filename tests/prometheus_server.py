"""A private Prometheus for tests: 127.0.0.1, a free port, its own temp storage, stopped by PID.

Debian's ``prometheus`` package (scripts/test.sh installs it) gives the server
and ``promtool``; never the machine's own Prometheus service.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import wait_for
from tests.local_server import LocalServer, free_port


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} not installed: scripts/test.sh installs Debian's prometheus package")
    return path


class PrometheusServer(LocalServer):
    def __init__(self, scrape_configs: list[dict], rule_files: list[Path], interval: str = "1s") -> None:
        self.binary = require("prometheus")
        self.config = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "rule_files": [str(p.resolve()) for p in rule_files],
            "scrape_configs": scrape_configs,
        }
        self.dir: Path | None = None
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        self.dir = Path(tempfile.mkdtemp(prefix="lmgate-prometheus-"))
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(self.config))
        for _ in range(3):  # the free port can be taken between probing and binding
            self.port = free_port()
            args = [
                self.binary,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ]
            log = open(self.dir / "prometheus.log", "ab")  # noqa: SIM115 - lives as long as the process
            self.proc = subprocess.Popen(args, cwd=self.dir, stdout=log, stderr=log)
            log.close()
            if self._wait_ready(timeout):
                return self
            self._kill()
        raise RuntimeError(f"prometheus did not start: {self.log()}")

    def _wait_ready(self, timeout: float) -> bool:
        try:
            wait_for(self._ready, timeout, 0.1, "prometheus /-/ready")
        except (AssertionError, RuntimeError):
            return False
        return True

    def _ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("prometheus exited")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def log(self) -> str:
        return (self.dir / "prometheus.log").read_text(errors="replace") if self.dir else ""

    def api(self, path: str, **params: str) -> dict:
        """GET /api/v1/<path>; the ``data`` of a successful answer, else AssertionError with Prometheus's error."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                doc = json.load(r)
        except urllib.error.HTTPError as e:
            doc = json.load(e)
        if doc.get("status") != "success":
            raise AssertionError(f"{path} {params}: {doc.get('errorType')}: {doc.get('error')}")
        return doc["data"]

    def query(self, expr: str, at: float | None = None) -> dict:
        return self.api("query", query=expr, **({"time": repr(at)} if at is not None else {}))
