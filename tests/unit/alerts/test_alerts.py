"""The alerts task: budget checks on the headroom snapshots, rate-limit notices from the flush thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from lmgate.alerts import Alerts
from lmgate.config import AlertsConfig
from lmgate.policies.headroom import BUDGET, KEY, LimitUse, Snapshot
from lmgate.store.periods import period_of
from tests.e2e.harness import wait_for
from tests.webhook_receiver import WebhookReceiver


class Spend:
    """A headroom stand-in: the budget use the test sets."""

    def __init__(self) -> None:
        self.used = 0.0

    async def snapshot(self) -> Snapshot:
        now = time.time()
        return Snapshot(now, (LimitUse(KEY, "alice", "research", BUDGET, 10.0, self.used, period_of("day", now)),))


async def test_budget_crossings_and_repeated_refusals_reach_the_webhook(tmp_path):
    with WebhookReceiver() as receiver:
        config = AlertsConfig(
            webhooks=[receiver.url], check_interval=0.05, rate_limit_refusals=2, state_path=tmp_path / "state.json"
        )
        spend = Spend()
        alerts = Alerts(config, spend)  # type: ignore[arg-type]
        assert alerts.enabled
        task = asyncio.create_task(alerts.run())
        try:
            await asyncio.sleep(0.1)
            spend.used = 8.0

            def events() -> list:
                return [(n["lmgate"]["event"], n["lmgate"].get("threshold_pct")) for n in receiver.received]

            await asyncio.to_thread(wait_for, lambda: events() == [("budget", 80.0)], 5, 0.01, "the 80% notice")
            lines = [{"key_id": "alice", "owner": "research", "error_type": "rate_limited_rpm"}] * 2
            flush = threading.Thread(target=alerts.observe, args=(lines,))  # as the writer's flush thread does
            flush.start()
            flush.join()
            await asyncio.to_thread(wait_for, lambda: len(events()) == 2, 5, 0.01, "the rate-limit notice")
            assert events()[1] == ("rate_limit", None)
            await asyncio.sleep(0.2)  # more checks: nothing new
            assert len(receiver.received) == 2
            assert alerts.counts() == {("budget", "sent"): 1, ("rate_limit", "sent"): 1}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_without_webhooks_alerts_are_off(tmp_path):
    alerts = Alerts(AlertsConfig(state_path=tmp_path / "s.json"), Spend())  # type: ignore[arg-type]
    assert not alerts.enabled
    alerts.observe([{"key_id": "a", "error_type": "rate_limited_rpm"}] * 10)  # not running: nothing queued
    assert alerts.counts() == {}
