"""Delivers notifications to the configured webhooks: queued, in the background, with bounded retries.

``send`` only queues (the callers are the budget check and the stats flush,
never a request). Each notification goes to every URL at once; an attempt that
fails (no connection, timeout, 5xx, 429) is retried ``retries`` times after
``backoff``, 2x``backoff``, ... seconds. A webhook that stays dead costs a
counter and one ERROR line a minute. Webhook URLs often carry a secret
(Slack's do): logs name only the host.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from urllib.parse import urlsplit

import aiohttp

from lmgate.alerts.message import Notification

log = logging.getLogger("lmgate.alerts")

QUEUE_SIZE = 100  # notifications waiting; more are dropped (and counted) while webhooks are slow
ERROR_LOG_INTERVAL = 60.0  # seconds between ERROR lines about failed deliveries
SENT, FAILED, DROPPED = "sent", "failed", "dropped"


class WebhookSender:
    def __init__(self, urls: list[str], timeout: float = 5.0, retries: int = 3, backoff: float = 1.0) -> None:
        self.urls, self.timeout, self.retries, self.backoff = urls, timeout, retries, backoff
        self.counts: Counter[tuple[str, str]] = Counter()  # (kind, result) -> deliveries
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(QUEUE_SIZE)  # bound to a loop on first use
        self._last_error_log = -ERROR_LOG_INTERVAL
        self._failures_unlogged = 0

    def send(self, note: Notification) -> None:
        """Queue ``note`` for every webhook (on the event loop's thread)."""
        if self._queue.full():  # the webhooks fail or are slow, which the ERROR line says: count only
            self.counts[(note.kind, DROPPED)] += len(self.urls)
            return
        self._queue.put_nowait(note)

    async def run(self) -> None:
        """Deliver queued notifications until cancelled."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                note = await self._queue.get()
                body = note.payload()
                results = await asyncio.gather(*(self._deliver(session, url, body) for url in self.urls))
                for ok in results:
                    self.counts[(note.kind, SENT if ok else FAILED)] += 1

    async def _deliver(self, session: aiohttp.ClientSession, url: str, body: dict) -> bool:
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                async with session.post(url, json=body) as resp:
                    if resp.status < 300:
                        return True
                    reason = f"HTTP {resp.status}"
                    if resp.status < 500 and resp.status != 429:  # the receiver refuses this body: retrying won't help
                        break
            except (aiohttp.ClientError, TimeoutError) as e:
                reason = type(e).__name__
        self._failed(url, reason)
        return False

    def _failed(self, url: str, reason: str) -> None:
        self._failures_unlogged += 1
        now = time.monotonic()
        if now - self._last_error_log < ERROR_LOG_INTERVAL:
            return
        log.error(
            "webhook %s: delivery failed (%s; retried up to %d times); %d failed deliveries since the last such line",
            urlsplit(url).hostname,
            reason,
            self.retries,
            self._failures_unlogged,
        )
        self._last_error_log, self._failures_unlogged = now, 0
