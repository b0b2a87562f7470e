"""Log lines for events that can come once per request: at most one a second, with the count since."""

from __future__ import annotations

import logging
import time

INTERVAL = 1.0  # seconds between lines: loud, but not one per request


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, level: int = logging.ERROR, interval: float = INTERVAL) -> None:
        self.logger, self.level, self.interval = logger, level, interval
        self.total = 0  # events in all (a counter for metrics)
        self._unlogged = 0
        self._last = -interval

    def event(self, message: str, *args: object, count: int = 1) -> None:
        """Count ``count`` events; log ``message % args`` with the counts if the last line is old enough."""
        self.total += count
        self._unlogged += count
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self.logger.log(self.level, message + "; %d since the last line, %d in all", *args, self._unlogged, self.total)
        self._last, self._unlogged = now, 0
