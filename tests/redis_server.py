"""A private redis-server for tests: a free 127.0.0.1 port, a temp dir, no persistence, stopped by PID.

Never the machine's own Redis: tests flush and kill theirs.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis

from tests.local_server import LocalServer, free_port


class RedisServer(LocalServer):
    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("redis-server") or ""
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        if not self.binary:
            raise RuntimeError("redis-server not found on PATH")
        self.dir = tempfile.mkdtemp(prefix="lmgate-redis-")
        for _ in range(3):  # the free port can be taken between probing and binding
            self.port = free_port()
            args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            args += ["--dir", self.dir, "--daemonize", "no", "--logfile", "redis.log"]
            self.proc = subprocess.Popen(args, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready(timeout):
                return self
            self._kill()
        raise RuntimeError(f"redis-server did not start; see {self.dir}/redis.log")

    def _wait_ready(self, timeout: float) -> bool:
        assert self.proc is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.ConnectionError:
                    time.sleep(0.02)
            return False
        finally:
            client.close()


def _require_binary() -> None:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server not installed: scripts/test.sh installs it")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One server for the session; tests flush it (``redis_url``)."""
    _require_binary()
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    return redis_server.url


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A server of the test's own, for tests that stop it."""
    _require_binary()
    with RedisServer() as server:
        yield server
