"""Lines of finished requests, built in batches from nginx's stats spool (``lmgate/stats/spool.py``).

The reader passes every ``POLL_S``: what nginx appended since is read, each
line is priced and written, and lines with usage reach the policy store first
(tokens into tpm, cost into budgets, the max_parallel slot back), so a line on
disk means the store counted it. An /auth that would refuse a key for a
policy calls ``catch_up`` first: the slot it wants may belong to a request
that nginx finished and logged a moment ago. The spool's cursor is saved once
the writer has a pass's lines on disk (``StatsWriter.after_flush``), so a
crash re-reads what it had not written instead of losing it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from lmgate.errors import ErrorType
from lmgate.handoff import CTX_HEADER, Handoff
from lmgate.policies.engine import PolicyEngine, UsageUpdate
from lmgate.pricing import PriceBook
from lmgate.providers.base import Provider
from lmgate.stats.build import Exchange, exchange_record, facts, int_or_zero, refusal_record
from lmgate.stats.record import StatsRecord
from lmgate.stats.spool import SpoolEntry, SpoolReader
from lmgate.stats.writer import StatsWriter

log = logging.getLogger("lmgate.stats")

#: seconds between passes over the spool: how late tokens and cost reach tpm and budgets at most
POLL_S = 0.02
#: seconds the longest wait of a line in the spool is reported for (``lag``)
LAG_WINDOW = 60.0


class StatsIntake:
    def __init__(
        self,
        apis: Mapping[str, Provider],
        prices: PriceBook,
        writer: StatsWriter,
        policies: PolicyEngine,
        spool_dir: Path,
        poll_s: float = POLL_S,
    ) -> None:
        self.apis = apis  # provider entry name -> the module that reads its usage
        self.prices, self.writer, self.policies = prices, writer, policies
        self.poll_s = poll_s
        self.spool = SpoolReader(spool_dir, self.add)
        self._recording: set[asyncio.Task] = set()
        self.passed_at = time.time()  # when the last pass over the spool ended
        self._peak_wait, self._peak_at = 0.0, 0.0  # the longest a line waited in the spool, and when

    async def run(self) -> None:
        """Pass over the spool every ``poll_s`` until cancelled."""
        while True:
            try:
                self.read()
            except OSError:  # the spool's disk: logged, and the next pass tries again
                log.exception("stats: reading the spool %s failed", self.spool.directory)
            await asyncio.sleep(self.poll_s)

    def read(self) -> int:
        """One pass: build the new lines; the cursor is saved once they are on disk. Returns the lines read."""
        read = self.spool.read()
        self.passed_at = time.time()
        cursor = self.spool.cursor()
        if cursor is None:
            return read
        save = functools.partial(self.spool.save, cursor)
        recording = list(self._recording)
        if not recording:
            self.writer.after_flush(save)
        else:  # lines with usage reach the writer when the store has it
            task = asyncio.ensure_future(self._after(recording, save))
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)
        return read

    async def _after(self, recording: list[asyncio.Task], save: Callable[[], None]) -> None:
        await asyncio.gather(*recording, return_exceptions=True)
        self.writer.after_flush(save)

    async def catch_up(self) -> bool:
        """Read the spool now and wait until the usage of every line read so far is in the store.

        True if that changed anything: lines were read or usage was still on its way to the store.
        """
        read = self.read()
        pending = list(self._recording)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return bool(read or pending)

    def add(self, entries: list[SpoolEntry]) -> None:
        """Build the lines of ``entries`` now; lines with usage for the policy store follow it there."""
        now = time.time()
        wait = now - min(e.at for e in entries)
        if wait >= self._peak_wait or now - self._peak_at > LAG_WINDOW:
            self._peak_wait, self._peak_at = wait, now
        with_usage = []
        for entry in entries:
            record, update = self.build(entry)
            if update is None:
                self.writer.write(record)
            else:
                with_usage.append((record, update))
        if with_usage:
            task = asyncio.ensure_future(self._record(with_usage))
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)

    def build(self, entry: SpoolEntry) -> tuple[StatsRecord, UsageUpdate | None]:
        """The line of one finished request, and what the policy store must hear of it, if anything.

        Whatever goes wrong while reading usage, a line is still made: usage may
        be lost, the record of the request is not.
        """
        headers, body, at = entry
        handoff = Handoff.decode(headers.get(CTX_HEADER, ""))
        try:
            ex = Exchange.from_headers(headers, handoff)
            record = exchange_record(ex, self.apis[ex.provider], body, self.prices)
        except Exception:
            log.exception("stats: could not read usage of request %s", headers.get("X-Lmgate-Request-Id"))
            record = refusal_record(
                route=headers.get("X-Lmgate-Provider", ""),
                handoff=handoff,
                status=int_or_zero(facts(headers)["status"]),
                error_type=ErrorType.STATS_ERROR,
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
        # the lines after their usage: whoever reads a line can count on the store having it
        try:  # store errors are logged inside; anything else is a bug, and still loses no line
            await self.policies.record_usages([u for _, u in with_usage])
        except Exception:
            log.exception("stats: usage of %d requests not recorded", len(with_usage))
        for record, _ in with_usage:
            self.writer.write(record)

    def lag(self, now: float) -> float:
        """Seconds the stats lines run behind nginx: the longest a line waited in the spool in about the last
        ``LAG_WINDOW`` seconds (a backlog after a restart, a reader that cannot keep up), or the time since the
        last pass if that is longer (a reader that stopped)."""
        peak = self._peak_wait if now - self._peak_at <= LAG_WINDOW else 0.0
        return max(peak, now - self.passed_at, 0.0)

    async def close(self) -> None:
        """Read the spool to its end and wait for the usage to reach the store (before the writer's last flush)."""
        try:
            await self.catch_up()
        finally:
            self.spool.close()
