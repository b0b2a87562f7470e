"""Fixtures: one fake provider upstream and one real gateway (nginx + njs + sidecar) per session."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.harness import Gateway
from tests.fakes.upstream import FakeUpstream

# Test keys; the gateway forwards them untouched, the fake records them.
KEYS = {
    "openai": "sk-test-openai-0123456789abcdef",
    "anthropic": "sk-ant-test-0123456789abcdef",
    "gemini": "AIza-test-gemini-0123456789",
    "azure": "azure-test-key-0123456789abcdef",
    "hashed": "sk-test-hashed-0123456789abcdef",
}
ADMIN_TOKEN = "lmgate-admin-test-token-0123456789"
ROWS = [
    ("team-openai", KEYS["openai"], "alpha"),
    ("team-anthropic", KEYS["anthropic"], "beta"),
    ("team-gemini", KEYS["gemini"], "gamma"),
    ("team-azure", KEYS["azure"], "delta"),
]


def pytest_collection_modifyitems(config, items):
    if shutil.which("nginx") is None:
        skip = pytest.mark.skip(reason="nginx not installed: scripts/test.sh installs it")
        for item in items:
            if "e2e" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def fake():
    up = FakeUpstream()
    up.start()
    yield up
    up.stop()


@pytest.fixture(scope="session")
def gateway(fake, tmp_path_factory):
    gw = Gateway(tmp_path_factory.mktemp("gw"), fake.base_url, {"api": {"admin_token": ADMIN_TOKEN}})
    gw.write_allowlist(ROWS)
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def gw(gateway, fake):
    """The shared gateway, with a clean fake and the standard allow-list for each test."""
    fake.clear()
    fake.chunk_delay = 0.05
    if gateway.sidecar is None or gateway.sidecar.poll() is not None:
        gateway.start_sidecar()
    gateway.mark_stats()
    yield gateway
    gateway.write_allowlist(ROWS)
