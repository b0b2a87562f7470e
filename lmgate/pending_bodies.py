"""Replacement request bodies (DLP redactions) waiting for nginx to fetch them.

/auth answers with headers only, so its answer stays small for every request;
the rare replaced body is fetched by a second subrequest to GET /body?id=…,
once, within a few seconds. The store is in the memory of the one sidecar
process; several sidecar processes behind one nginx would need both
subrequests routed to the same one (``hash $request_id`` in the upstream).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict

TTL = 30.0  # seconds; nginx fetches within its auth timeout, the rest is slack


class PendingBodies:
    def __init__(self, ttl: float = TTL) -> None:
        self.ttl = ttl
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def put(self, body: bytes) -> str:
        self._expire()
        token = secrets.token_urlsafe(16)
        self._items[token] = (time.monotonic() + self.ttl, body)
        return token

    def take(self, token: str) -> bytes | None:
        item = self._items.pop(token, None)
        return item[1] if item is not None and item[0] >= time.monotonic() else None

    def _expire(self) -> None:
        now = time.monotonic()
        while self._items:
            token, (deadline, _) = next(iter(self._items.items()))
            if deadline >= now:
                break
            del self._items[token]

    def __len__(self) -> int:
        return len(self._items)
