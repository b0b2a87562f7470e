"""The audit log: one JSON line per change of a key, who made it, when, which fields old -> new.

Never a key or a hash: the secret columns are left out of every change. Who is
``cli:<OS user>`` for ``lmgate keys`` and ``admin:<8 hex>`` for the admin API
(the start of the admin token's sha256, which names the token without
revealing it). The file is written and rotated by the stats writer, and fsynced
before the allow-list edit it records takes effect.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmgate.config import AuditConfig
from lmgate.stats.writer import StatsWriter

#: cells that hold a key, a hash of one or a SigV4 secret's reference: never in the audit log
SECRET_COLUMNS = frozenset(("api_key", "previous_api_key", "client_secret"))


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = f"uid {os.getuid()}"
    return f"cli:{user}"


def admin_actor(token: str) -> str:
    return "admin:" + hashlib.sha256(token.encode()).hexdigest()[:8]


def changes(old: dict[str, str], new: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """``{column: {"old": ..., "new": ...}}`` for each non-secret cell that differs (empty is None)."""
    out = {}
    for column in dict.fromkeys([*old, *new]):
        before, after = old.get(column) or None, new.get(column) or None
        if before != after and column not in SECRET_COLUMNS:
            out[column] = {"old": before, "new": after}
    return out


def entry(actor: str, action: str, key_id: str, changed: dict[str, Any], now: float, **more: Any) -> dict[str, Any]:
    ts = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"ts": ts, "actor": actor, "action": action, "id": key_id, "changes": changed, **more}


@dataclass(frozen=True, slots=True)
class AuditLog:
    path: Path
    max_bytes: int = 10 * 1024**2  # rotation, as the stats: past this size into a gzipped file
    keep_files: int = 0
    keep_days: float = 0

    @classmethod
    def from_config(cls, cfg: AuditConfig) -> AuditLog:
        return cls(cfg.path, max_bytes=int(cfg.max_bytes), keep_files=cfg.keep_files, keep_days=cfg.keep_days)

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Write ``entries`` durably (rotating first when the file is full); OSError if they are not on disk.

        Callers hold the allow-list's lock, so one writer at a time appends and rotates.
        """
        if not entries:
            return
        writer = StatsWriter(
            self.path, max_bytes=self.max_bytes, keep_files=self.keep_files, keep_days=self.keep_days
        )  # a fresh one each time: lines a failed write kept in memory must not be written later
        for e in entries:
            writer.write(e)
        writer.flush()
        if writer.pending:
            raise OSError(f"cannot write the audit log {self.path}; nothing changed")
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
