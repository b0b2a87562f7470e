"""The sidecar's long-lived state, built once from the config."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from lmgate.alerts import Alerts
from lmgate.allowlist import AllowListWatcher
from lmgate.config import Config, ProviderConfig
from lmgate.dlp.gate import DlpGate
from lmgate.metrics import Metrics, Sources
from lmgate.pending_bodies import PendingBodies
from lmgate.policies.engine import PolicyEngine
from lmgate.policies.headroom import Headroom, limited_scopes
from lmgate.pricing import PriceBook
from lmgate.providers import get as get_provider
from lmgate.providers.base import Provider
from lmgate.stats.backend import FollowsJsonl, RollupsUnavailable, open_rollups
from lmgate.stats.intake import StatsIntake
from lmgate.stats.rebuilding import LiveRollups, RollupsRebuilding
from lmgate.stats.writer import StatsWriter
from lmgate.store.base import StoreUnavailable
from lmgate.upstream_auth import UpstreamAuth

log = logging.getLogger("lmgate")


@dataclass(frozen=True, slots=True)
class Route:
    """A configured provider entry (e.g. ``groq``) and the module that speaks its API."""

    name: str
    config: ProviderConfig
    api: Provider


@dataclass(slots=True)
class Gateway:
    config: Config
    routes: dict[str, Route]
    allowlist: AllowListWatcher
    writer: StatsWriter
    policies: PolicyEngine
    prices: PriceBook
    rollups: LiveRollups
    upstream: UpstreamAuth
    dlp: DlpGate
    stats_intake: StatsIntake
    metrics: Metrics
    headroom: Headroom
    alerts: Alerts
    bodies: PendingBodies = field(default_factory=PendingBodies)

    @classmethod
    def from_config(cls, config: Config) -> Gateway:
        routes = {name: Route(name, p, get_provider(p.kind)) for name, p in config.providers.items()}
        prices = PriceBook.load(config.pricing.file, include_shipped=config.pricing.include_shipped)
        s = config.stats
        shared = open_rollups(config.rollups) if config.rollups.store else None
        if shared is not None:  # PostgreSQL: counts this instance's lines and catches up by itself
            rollups = LiveRollups.ready(config.rollups.path, shared)
        else:
            rollups = LiveRollups.open(config.rollups.path, s.path)  # before the writer appends: the snapshot
            rollups.start()  # a rebuild, if due, runs in the background: the gateway serves meanwhile
        metrics = Metrics(config.metrics.max_models)
        observers: list[Callable[[list[dict]], None]] = [metrics.observe]  # read the lines the JSONL got
        writer = StatsWriter(
            s.path,
            flush_interval=s.flush_interval,
            max_bytes=int(s.max_bytes),
            keep_files=s.keep_files,
            keep_days=s.keep_days,
            max_buffered=s.max_buffered_lines,
            on_flush=_written_lines(observers, rollups),
        )
        if isinstance(shared, FollowsJsonl):  # a shared store: counts this instance's lines, catches up itself
            shared.follow(s.path, writer.io_lock)
        allowlist = AllowListWatcher(config.allowlist.path, config.allowlist.reload_interval)
        policies = PolicyEngine.from_config(config.policies, seed_spend=_seed_spend(rollups))
        intake = StatsIntake({name: r.api for name, r in routes.items()}, prices, writer, policies, config.spool_dir())
        # --- metrics and alerts (lmgate/metrics/, lmgate/alerts/): budgets and headroom read at scrape time
        keys = lambda: ((e.id, e.owner, e.limits) for e in allowlist.current.entries())  # noqa: E731
        headroom = Headroom(
            policies.store,
            lambda: limited_scopes(keys(), policies.owners),
            lambda since, group: rollups.store.spend_by(since, group),
            ttl=config.metrics.limits_cache_s,
        )
        alerts = Alerts(config.alerts, headroom)
        if alerts.enabled:
            observers.append(alerts.observe)
        store_errors = lambda: {"requests": policies.store_errors, "limits": headroom.read_errors}  # noqa: E731
        metrics.watch(Sources(writer, intake, allowlist, store_errors, alerts.counts, rollups), headroom)
        # ---
        return cls(
            config=config,
            routes=routes,
            allowlist=allowlist,
            writer=writer,
            policies=policies,
            prices=prices,
            rollups=rollups,
            upstream=UpstreamAuth(config),
            dlp=DlpGate(config.dlp),
            stats_intake=intake,
            metrics=metrics,
            headroom=headroom,
            alerts=alerts,
        )


def _seed_spend(rollups: LiveRollups) -> Callable[..., float]:
    """A cold budget counter's spend so far, from the rollups. While they are rebuilt the spend is unknown:
    the store is as good as unavailable, so ``policies.on_store_error`` decides (closed: 503 for keys and
    owners with a budget whose counter is cold; open: allowed, and counted once when the counter is seeded
    from the rebuilt rollups, which hold those lines)."""

    def seed(since: float, key_id: str | None = None, owner: str | None = None) -> float:
        try:
            return rollups.store.spend(since, key_id=key_id, owner=owner)
        except (RollupsRebuilding, RollupsUnavailable) as e:  # rebuilding, or a shared store down
            raise StoreUnavailable(str(e)) from None

    return seed


def _written_lines(
    observers: list[Callable[[list[dict]], None]], rollups: LiveRollups
) -> Callable[[list[bytes]], None]:
    """What the writer calls with the lines it wrote (on its flush thread): parsed once, for every reader."""

    def on_flush(lines: list[bytes]) -> None:
        records = [orjson.loads(line) for line in lines]
        for observe in observers:
            try:
                observe(records)
            except Exception:  # the lines are on disk; a reader's bug must not stop the others
                log.exception("stats: %r failed on %d written lines", observe, len(records))
        rollups.add(records)  # last: its errors reach the writer, which says how to rebuild

    return on_flush
