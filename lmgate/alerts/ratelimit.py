"""Repeated rate-limit refusals of one key, from the stats lines: notify once, then stay quiet a while.

A key refused ``refusals`` times within ``window`` seconds (rpm, tpm or
max_parallel, of the key or of its owner) notifies; the same key notifies
again only after ``quiet`` seconds. Runs on the writer's flush thread.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable

from lmgate.alerts.message import Notification, rate_limited
from lmgate.errors import ErrorType

RATE_LIMIT_REASONS = {
    ErrorType.RATE_LIMITED_RPM: "rpm",
    ErrorType.RATE_LIMITED_TPM: "tpm",
    ErrorType.TOO_MANY_PARALLEL: "max_parallel",
}


class RateLimitAlerts:
    def __init__(self, refusals: int, window: float, quiet: float) -> None:
        self.refusals, self.window, self.quiet = refusals, window, quiet
        self._recent: dict[str, deque[tuple[float, str]]] = {}  # key id -> its last refusals (time, limit)
        self._sent: dict[str, float] = {}  # key id -> when it last notified

    def observe(self, records: Iterable[dict], now: float) -> list[Notification]:
        notes = []
        for r in records:
            reason = RATE_LIMIT_REASONS.get(r.get("error_type"))  # type: ignore[arg-type]
            key_id = r.get("key_id")
            if reason is None or not key_id:
                continue
            recent = self._recent.get(key_id)
            if recent is None:
                recent = self._recent[key_id] = deque(maxlen=self.refusals)
            recent.append((now, reason))
            if len(recent) < self.refusals or now - recent[0][0] > self.window:
                continue
            last = self._sent.get(key_id)
            if last is not None and now - last < self.quiet:
                continue
            self._sent[key_id] = now
            notes.append(rate_limited(key_id, r.get("owner") or "", dict(Counter(x for _, x in recent)), self.window))
            recent.clear()
        return notes
