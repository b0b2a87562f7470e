"""Stats posts are answered at once and turned into lines a moment later, in batches.

nginx sends a request's /stats post when the response is done, and a client
sends its next request as soon as it has that response, so the post and the
next /auth reach the sidecar together. Reading usage and pricing the post
before answering made that /auth wait behind it (a stream's first token came
later). The intake queues the raw post, the handler answers 204, and the
queued lines are built ``DEFER_S`` later in one batch. The delay matters: at
0.5 ms the batch landed on the next request's /auth (a stream's first token
+1.14 ms after bare nginx), at 5 ms on the next request of a 200 req/s client;
at 20 ms neither (+0.70 ms), see docs/performance.md. Tokens and cost reach
the policy store that much later (a max_parallel slot is freed before the
answer, handlers/stats.py). A crash loses no more than before: lines wait in
memory for the writer's next flush either way, and ``close`` builds what is
queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import NamedTuple

from multidict import CIMultiDict

from lmgate.handoff import CTX_HEADER, Handoff
from lmgate.policies.engine import PolicyEngine
from lmgate.pricing import PriceBook
from lmgate.providers.base import Provider
from lmgate.stats.build import Exchange, exchange_record, facts, int_or_zero, refusal_record
from lmgate.stats.record import StatsRecord
from lmgate.stats.writer import StatsWriter

log = logging.getLogger("lmgate.stats")

#: how long a post waits before its line is built: past the next requests' /auth (see above)
DEFER_S = 0.02
#: a batch built at once when this many posts wait (bounds the queue at very high rates)
MAX_QUEUED = 512


class UsageUpdate(NamedTuple):
    """What a finished request tells the policy store: tokens (tpm), cost (budgets), its lease (max_parallel)."""

    key_id: str
    owner: str | None
    tokens: int
    cost_usd: float | None
    at: float
    lease: str


class StatsIntake:
    def __init__(
        self,
        apis: Mapping[str, Provider],
        prices: PriceBook,
        writer: StatsWriter,
        policies: PolicyEngine,
        defer_s: float = DEFER_S,
    ) -> None:
        self.apis = apis  # provider entry name -> the module that reads its usage
        self.prices, self.writer, self.policies = prices, writer, policies
        self.defer_s = defer_s
        self._queue: list[tuple[CIMultiDict, bytes, float, Handoff]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._recording: set[asyncio.Task] = set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def put(self, headers: CIMultiDict, body: bytes, at: float) -> Handoff:
        """Queue one post (``at``: when it arrived, the time its usage counts at); its decoded handoff."""
        handoff = Handoff.decode(headers.get(CTX_HEADER, ""))
        self._queue.append((headers, body, at, handoff))
        if len(self._queue) >= MAX_QUEUED:
            self.drain()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.defer_s, self.drain)
        return handoff

    def drain(self) -> None:
        """Build the lines of every queued post now; lines with usage for the policy store follow it there."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        posts, self._queue = self._queue, []
        with_usage = []
        for headers, body, at, handoff in posts:
            record, update = self.build(headers, body, at, handoff)
            if update is None:
                self.writer.write(record)
            else:
                with_usage.append((record, update))
        if with_usage:
            task = asyncio.ensure_future(self._record(with_usage))
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)

    def build(
        self, headers: CIMultiDict, body: bytes, at: float, handoff: Handoff
    ) -> tuple[StatsRecord, UsageUpdate | None]:
        """The line of one post, and what the policy store must hear of it, if anything.

        Whatever goes wrong while reading usage, a line is still made: usage may
        be lost, the record of the request is not.
        """
        try:
            ex = Exchange.from_headers(headers, handoff)
            record = exchange_record(ex, self.apis[ex.provider], body, self.prices)
        except Exception:
            log.exception("stats: could not read usage of request %s", headers.get("X-Lmgate-Request-Id"))
            record = refusal_record(
                route=headers.get("X-Lmgate-Provider", ""),
                handoff=handoff,
                status=int_or_zero(facts(headers)["status"]),
                error_type="stats_error",
                request_id=headers.get("X-Lmgate-Request-Id", ""),
                now=at,
            )
        lease = handoff.lease
        if not (lease and record.key_id):
            return record, None
        # tokens into tpm, cost into budgets, and the max_parallel slot back (also after a disconnect)
        tokens = (record.input_tokens or 0) + (record.output_tokens or 0)
        return record, UsageUpdate(record.key_id, record.owner, tokens, record.cost_usd, at, lease)

    async def _record(self, with_usage: list[tuple[StatsRecord, UsageUpdate]]) -> None:
        # the line after its usage: whoever reads a line can count on the store having it
        for record, u in with_usage:
            try:  # store errors are logged inside; anything else is a bug, and still loses no line
                await self.policies.record_usage(u.key_id, u.owner, u.tokens, u.cost_usd, u.at, u.lease)
            except Exception:
                log.exception("stats: usage of request %s not recorded", record.request_id)
            self.writer.write(record)

    async def close(self) -> None:
        """Write what is queued and wait for its usage to reach the policy store (before the writer's last flush)."""
        self.drain()
        if self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)
