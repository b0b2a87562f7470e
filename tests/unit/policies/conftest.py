"""Engines over each store: every policy test runs against memory and a private redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from lmgate.config import PolicyConfig
from lmgate.policies.engine import PolicyEngine, SeedSpend
from lmgate.store.base import Store
from lmgate.store.memory import MemoryStore
from lmgate.store.redis import RedisStore
from tests.redis_server import own_redis_server, redis_server, redis_url  # noqa: F401  (fixtures)

EngineFactory = Callable[..., PolicyEngine]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Store]]:
    """Stores of the parametrized kind; all redis ones share one (flushed) server, as gateway instances would."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made: list[Store] = []

    def make() -> Store:
        store: Store = MemoryStore() if url is None else RedisStore.from_url(url, timeout=2.0)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


@pytest.fixture
def make_engine(make_store: Callable[[], Store]) -> EngineFactory:
    def make(store: Store | None = None, seed_spend: SeedSpend | None = None, **config: Any) -> PolicyEngine:
        return PolicyEngine(PolicyConfig(**config), store or make_store(), seed_spend)

    return make
