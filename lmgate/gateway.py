"""The sidecar's long-lived state, built once from the config."""

from __future__ import annotations

from dataclasses import dataclass, field

from lmgate.allowlist import AllowListWatcher
from lmgate.config import Config, ProviderConfig
from lmgate.pending_bodies import PendingBodies
from lmgate.policies.engine import PolicyEngine
from lmgate.providers import get as get_provider
from lmgate.providers.base import Provider
from lmgate.stats.writer import StatsWriter


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
    bodies: PendingBodies = field(default_factory=PendingBodies)

    @classmethod
    def from_config(cls, config: Config) -> Gateway:
        routes = {name: Route(name, p, get_provider(p.kind)) for name, p in config.providers.items()}
        s = config.stats
        writer = StatsWriter(
            s.path,
            flush_interval=s.flush_interval,
            max_bytes=int(s.max_bytes),
            keep_files=s.keep_files,
            max_buffered=s.max_buffered_lines,
        )
        allowlist = AllowListWatcher(config.allowlist.path, config.allowlist.reload_interval)
        policies = PolicyEngine.from_config(config.policies)
        return cls(config=config, routes=routes, allowlist=allowlist, writer=writer, policies=policies)
