"""The rollups backend: what the writer, the usage API, the console, the headroom and the budget seeds use.

Two implementations: ``rollups.Rollups``, an embedded SQLite file per instance
(the default), and ``rollups_pg.PgRollups``, one PostgreSQL database a fleet of
instances shares (``rollups.store: postgresql://...``). ``open_rollups`` picks
one from the config; nothing else names either.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lmgate.config import RollupsConfig

Bucket = Literal["hour", "day"]


class RollupsUnavailable(Exception):
    """The rollups store cannot answer now (PostgreSQL unreachable); the message names the store."""


class RollupsBackend(Protocol):
    skipped: int  # records add() could not use
    malformed: int  # lines the last rebuild could not use

    def add(self, records: Iterable[dict]) -> int: ...

    def query(
        self,
        since: float,
        until: float | None = None,
        group_by: Iterable[str] = (),
        key_id: str | None = None,
        owner: str | None = None,
        bucket: Bucket = "hour",
    ) -> list[dict[str, Any]]: ...

    def counts(
        self,
        series: Collection[str],
        since: float,
        until: float | None = None,
        group_by: Iterable[str] = (),
        key_id: str | None = None,
        owner: str | None = None,
        bucket: Bucket = "hour",
        provider: str | None = None,
        model: str | None = None,
    ) -> list[dict[str, Any]]: ...

    def spend(self, since: float, key_id: str | None = None, owner: str | None = None) -> float: ...

    def spend_by(self, since: float, group: Literal["key_id", "owner"]) -> dict[str, float]: ...

    def recent_errors(
        self,
        error_types: Collection[str] | None,
        key_id: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
        except_types: Collection[str] = (),
    ) -> tuple[int, list[dict[str, Any]]]: ...

    def last_seen(self) -> dict[str, float]: ...

    def close(self) -> None: ...


@runtime_checkable
class FollowsJsonl(Protocol):
    """A shared store that keeps up with this instance's JSONL file itself (catch-up after an outage)."""

    def follow(self, jsonl: Path, lock: Any) -> None: ...

    def maintain(self) -> None: ...


def open_rollups(config: RollupsConfig, migrate: bool = True) -> RollupsBackend:
    """The configured store: PostgreSQL when ``store`` is set, else the SQLite file at ``path``."""
    if config.store:
        from lmgate.stats.rollups_pg import PgRollups

        return PgRollups(config.store, instance=config.instance, dedupe_days=config.dedupe_days, migrate=migrate)
    from lmgate.stats.rollups import Rollups

    return Rollups(config.path)
