"""Budget and rate-limit notifications to webhooks, for operators without Prometheus.

``Alerts`` is what the gateway holds: ``run`` (a background task) checks budget
use every ``check_interval`` (``policies/headroom.py``, the same read the
metrics use) and delivers; ``observe`` reads each batch of written stats lines
for repeated rate-limit refusals. Nothing here runs on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping

from lmgate.alerts.budget import BudgetAlerts
from lmgate.alerts.ratelimit import RateLimitAlerts
from lmgate.alerts.sender import WebhookSender
from lmgate.config import AlertsConfig
from lmgate.policies.headroom import Headroom

log = logging.getLogger("lmgate.alerts")


class Alerts:
    def __init__(self, config: AlertsConfig, headroom: Headroom) -> None:
        self.config, self.headroom = config, headroom
        self.sender = WebhookSender(config.webhooks, config.timeout, config.retries, config.backoff)
        self.budgets = BudgetAlerts(config.budget_thresholds, config.state_path)
        c = config
        self.rate_limits = RateLimitAlerts(c.rate_limit_refusals, c.rate_limit_window, c.rate_limit_quiet)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.config.webhooks)

    def counts(self) -> Mapping[tuple[str, str], int]:
        """(kind, result) -> notifications, for the metrics."""
        return dict(self.sender.counts)

    def observe(self, records: Iterable[dict]) -> None:
        """Written stats lines (on the writer's flush thread): repeated rate-limit refusals notify."""
        loop = self._loop
        if loop is None:
            return
        for note in self.rate_limits.observe(records, time.monotonic()):
            loop.call_soon_threadsafe(self.sender.send, note)

    async def run(self) -> None:
        """Deliver, and check budgets every ``check_interval`` seconds, until cancelled."""
        self._loop = asyncio.get_running_loop()
        delivering = asyncio.create_task(self.sender.run(), name="lmgate-webhooks")
        try:
            while True:
                try:
                    snapshot = await self.headroom.snapshot()
                    for note in self.budgets.check(snapshot.uses, snapshot.at):
                        self.sender.send(note)
                except Exception:  # a bug here must not end the checks for good
                    log.exception("budget alerts: check failed")
                await asyncio.sleep(self.config.check_interval)
        finally:
            self._loop = None
            delivering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivering
