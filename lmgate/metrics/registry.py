"""``Metrics``: the registry of one sidecar, what feeds it, and the exposition a scrape gets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

from lmgate.metrics.requests import RequestCollector
from lmgate.metrics.scrape import HealthCollector, LimitsCollector, Sources
from lmgate.policies.headroom import Headroom


class Metrics:
    def __init__(self, max_models: int) -> None:
        # A registry per gateway, not prometheus_client's global one: each instance exports its own series.
        self.registry = CollectorRegistry()
        self.requests = RequestCollector(max_models)
        self.limits = LimitsCollector()
        self.registry.register(self.requests)
        self.registry.register(self.limits)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, resident memory, open fds
        PlatformCollector(registry=self.registry)
        self._headroom: Headroom | None = None

    def watch(self, sources: Sources, headroom: Headroom) -> None:
        """Read the pipeline's health from ``sources`` and budgets and headroom from ``headroom`` at each scrape."""
        self.registry.register(HealthCollector(sources))
        self._headroom = headroom

    def observe(self, records: Iterable[dict]) -> None:
        """Count written stats lines (the writer's flush thread calls this with each batch)."""
        self.requests.observe(records)

    async def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The body and content type of a scrape (OpenMetrics when the scraper asks for it)."""
        if self._headroom is not None:
            self.limits.snapshot = await self._headroom.snapshot()
        encode, content_type = choose_encoder(accept)
        # off the event loop: a scrape of thousands of series takes milliseconds /auth should not wait for
        return await asyncio.to_thread(encode, self.registry), content_type
