"""PostgreSQL for the shared rollups store's tests: a database per test (tests/postgres_server.py)."""

from tests.postgres_server import pg_database, pg_server  # noqa: F401 - fixtures
