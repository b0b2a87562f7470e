"""PostgreSQL for tests: the machine's own on 127.0.0.1:5432 (trust auth) when it answers, else a private
``postgres`` from Debian's binaries in a temp dir on a free port, stopped by PID. Each test gets its own
database (``pg_database``), dropped after."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.local_server import LocalServer, free_port

SYSTEM = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(versions[-1]) if versions else None


class PrivatePostgres(LocalServer):
    """initdb + postgres in a temp dir; ``stop`` kills that PID only."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lmgate-pg-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PrivatePostgres:
        initdb, postgres = _binary("initdb"), _binary("postgres")
        if not initdb or not postgres:
            raise RuntimeError("no PostgreSQL on 127.0.0.1:5432 and no initdb/postgres binaries to start one")
        data = self.dir / "data"
        as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root: as Debian's postgres user
            as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres")
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
            check=True,
            capture_output=True,
        )
        self.port = free_port()
        args = [postgres, "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1", "-k", str(self.dir), "-F"]
        log = open(self.dir / "log", "wb")  # noqa: SIM115 - the server's, for as long as it runs
        self.proc = subprocess.Popen([*as_user, *args], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        while not _answers(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start; see {self.dir}/log")
            time.sleep(0.1)
        return self


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The admin URL of a PostgreSQL server (the machine's, or a private one)."""
    url = os.environ.get("LMGATE_TEST_PG", SYSTEM)
    if _answers(url):
        yield url
        return
    server = PrivatePostgres().start()
    try:
        yield server.url
    finally:
        server.stop()


def with_database(admin_url: str, dbname: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + dbname


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh database for one test, dropped after (its connections ended first)."""
    name = f"lmgate_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def allow_connections(admin_url: str, db_url: str, allow: bool) -> None:
    """An outage of one database, as its clients see it: new connections refused and open ones ended (or the
    end of it). The server itself, and other tests' databases, go on."""
    name = db_url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
