"""THE config schema: every section, its defaults, YAML loading and the env overlay.

Precedence: built-in defaults < YAML file (``LMGATE_CONFIG`` or
``config/lmgate.yaml``) < ``LMGATE_<SECTION>__<KEY>`` environment variables.
Relative paths are taken from the directory the gateway is started in.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ByteSize, ConfigDict, Field, ValidationError, field_validator, model_validator

from lmgate.dlp.settings import DEFAULT_ENTITIES, KNOWN_ENTITIES, NER_ENTITIES, DlpMode
from lmgate.errors import ConfigError
from lmgate.policies.limits import parse_owner_settings
from lmgate.policies.registry import register_module
from lmgate.policies.settings import SETTINGS
from lmgate.providers import FALLBACK_KIND, PROVIDERS
from lmgate.providers import default_entries as default_provider_entries
from lmgate.providers import get as get_provider
from lmgate.providers import load as load_provider
from lmgate.providers.base import ProviderSettings

DEFAULT_CONFIG_PATH = Path("config/lmgate.yaml")
NGINX_DIR = Path(__file__).resolve().parent.parent / "nginx"  # the repository's, for a source checkout
ENV_PREFIX = "LMGATE_"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
SHM = Path("/dev/shm")  # memory-backed on Linux: the default home of the stats spool
FAST_SOCKET_NAME = "sidecar.sock"  # in the spool directory unless sidecar.fast_socket names another path
MAX_UNIX_PATH = 107  # sun_path's 108 bytes, one for the terminating NUL


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Section):
    host: str = Field("0.0.0.0", description="address nginx listens on for clients")
    port: int = Field(8080, ge=1, le=65535)
    worker_processes: str = Field("auto", description="nginx worker_processes")
    error_log_level: Literal["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"] = Field(
        "warn", description="nginx's error_log level; its lines go through lmgate's key masking"
    )
    max_body_size: ByteSize = Field(ByteSize(32 * 1024**2), description="largest request body; larger gets 413")
    upstream_timeout: float = Field(600.0, gt=0, description="seconds nginx waits on a provider read")
    upstream_keepalive: int = Field(
        128,
        ge=1,
        le=65536,
        description="idle links each nginx worker keeps open to each provider and to the sidecar's /auth; "
        "below the requests in flight, links are closed and reopened (a TLS handshake per provider link)",
    )
    ca_file: Path = Field(Path("/etc/ssl/certs/ca-certificates.crt"), description="CAs trusted for upstream TLS")
    resolver: str | None = Field(None, description="DNS for upstreams not resolvable at start; default: resolv.conf")
    run_dir: Path = Field(Path("run"), description="nginx pid, temp files and the rendered config")
    njs_module: str | None = Field(None, description="path of ngx_http_js_module.so; default: searched")
    nginx_dir: Path = Field(NGINX_DIR, description="where nginx.conf.j2 and njs/ are (the image sets /app/nginx)")
    tls_port: int | None = Field(None, ge=1, le=65535, description="also serve HTTPS on this port")
    tls_cert: Path | None = Field(None, description="PEM certificate chain for tls_port")
    tls_key: Path | None = Field(None, description="PEM private key for tls_port")

    @model_validator(mode="after")
    def _tls_complete(self) -> ServerConfig:
        if self.tls_port is not None and (self.tls_cert is None or self.tls_key is None):
            raise ValueError("tls_port needs tls_cert and tls_key (PEM files)")
        for name in ("tls_cert", "tls_key"):
            path = getattr(self, name)
            if self.tls_port is not None and path is not None and not path.is_file():
                raise ValueError(f"{name}: {path} is not a readable file")
        return self


class SidecarConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8081, ge=1, le=65535, description="the gateway's own API: /healthz, /lmgate/v1/usage")
    fast_socket: Path | None = Field(
        None,
        description="the Unix socket of the per-request endpoints nginx calls (/auth, /body); "
        "default: sidecar.sock in the stats spool directory, which nginx's workers reach",
    )
    fast_port: int | None = Field(
        None, ge=1, le=65535, description="serve /auth, /body on TCP host:fast_port instead of the Unix socket"
    )
    auth_timeout: float = Field(
        2.0,
        gt=0,
        description="seconds nginx waits for /auth before failing closed (503); "
        "an answer ready after 90% of it is no verdict and keeps nothing",
    )

    @model_validator(mode="after")
    def _one_fast_address(self) -> SidecarConfig:
        if self.fast_socket is not None and self.fast_port is not None:
            raise ValueError("fast_socket and fast_port: set one (the Unix socket, or TCP on host:fast_port)")
        return self


class AllowlistConfig(_Section):
    path: Path = Path("data/allowlist.csv")
    reload_interval: float = Field(2.0, gt=0, description="seconds between checks of the file for edits")


class StatsConfig(_Section):
    path: Path = Path("data/stats.jsonl")
    flush_interval: float = Field(1.0, gt=0, description="seconds between writes of buffered lines")
    max_bytes: ByteSize = Field(ByteSize(100 * 1024**2), description="rotate the JSONL file past this size")
    keep_files: int = Field(0, ge=0, description="rotated files kept (0: no count limit)")
    keep_days: float = Field(62, ge=0, description="rotated files older than this are deleted (0: no age limit)")
    capture_max_bytes: ByteSize = Field(ByteSize(1024**2), description="response bytes kept for usage")
    max_buffered_lines: int = Field(200_000, gt=0, description="lines held in memory while the disk fails")
    spool_dir: Path | None = Field(
        None,
        description="where nginx appends a line per finished request for the sidecar to read; "
        "default: a directory in /dev/shm (memory, so a full disk cannot cost lines), else run_dir/spool",
    )


class PricingConfig(_Section):
    file: Path | None = Field(None, description="LiteLLM-format prices merged over the shipped ones")
    include_shipped: bool = Field(True, description="false: use only `file`")

    @model_validator(mode="after")
    def _file_needed(self) -> PricingConfig:
        if not self.include_shipped and self.file is None:
            raise ValueError("include_shipped: false needs a pricing file")
        return self


class AuditConfig(_Section):
    """Who changed which key when (``lmgate keys``, the admin API): a JSONL file, rotated like the stats."""

    path: Path = Field(Path("data/audit.jsonl"), description="one line per change of the allow-list by lmgate")
    max_bytes: ByteSize = Field(ByteSize(10 * 1024**2), description="rotate into gzipped files past this size")
    keep_files: int = Field(0, ge=0, description="rotated files kept (0: no count limit)")
    keep_days: float = Field(0, ge=0, description="rotated files older than this are deleted (0: kept for ever)")


class RollupsConfig(_Section):
    path: Path = Field(Path("data/rollups.sqlite"), description="SQLite file of hourly/daily usage and cost")
    store: str | None = Field(
        None, description="postgresql://user@host/db: one usage store for a fleet of instances (default: `path`)"
    )
    instance: str | None = Field(
        None, description="this instance's name in the shared store (default: made once, kept in stats.instance)"
    )
    dedupe_days: float = Field(
        7.0, gt=0, description="days the shared store remembers counted request ids (a line re-read later counts once)"
    )

    @field_validator("store")
    @classmethod
    def _store(cls, v: str | None) -> str | None:
        if not v:  # unset, or an empty env variable (docker-compose passes one through)
            return None
        parts = urlsplit(v)
        if parts.scheme in ("postgresql", "postgres") and (parts.hostname or parts.query) and parts.path.strip("/"):
            return v
        raise ValueError(f"{_no_password(v)!r}: expected postgresql://user@host[:port]/database")


def _no_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


class ApiConfig(_Section):
    admin_token: str | None = Field(
        None, description="bearer token that sees everyone's usage at /lmgate/v1/usage and /lmgate/metrics"
    )


class MetricsConfig(_Section):
    """Prometheus metrics (lmgate/metrics/): GET /metrics on the sidecar port, /lmgate/metrics through nginx."""

    max_models: int = Field(
        50, ge=1, le=10_000, description='distinct model labels kept; later models are counted as model="other"'
    )
    limits_cache_s: float = Field(2.0, gt=0, description="seconds a read of budgets and rate-limit use is reused")


class AlertsConfig(_Section):
    """Budget and rate-limit notifications to webhooks (Slack-compatible JSON), without Prometheus."""

    webhooks: list[str] = Field(default_factory=list, description="URLs notified (POST JSON); empty: no alerts")
    budget_thresholds: list[float] = Field(
        default_factory=lambda: [50.0, 80.0, 100.0], description="percentages of a budget that notify, once a period"
    )
    check_interval: float = Field(15.0, gt=0, description="seconds between checks of budget use")
    rate_limit_refusals: int = Field(5, ge=1, description="refusals of one key within rate_limit_window that notify")
    rate_limit_window: float = Field(60.0, gt=0, description="seconds in which rate_limit_refusals must happen")
    rate_limit_quiet: float = Field(900.0, ge=0, description="seconds before the same key notifies again")
    timeout: float = Field(5.0, gt=0, description="seconds per webhook attempt")
    retries: int = Field(3, ge=0, le=10, description="attempts after the first, with doubling backoff")
    backoff: float = Field(1.0, gt=0, description="seconds before the first retry")
    state_path: Path = Field(
        Path("data/alerts_state.json"), description="budget thresholds already notified, so a restart repeats none"
    )

    @field_validator("webhooks", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return v.split() if isinstance(v, str) else v  # LMGATE_ALERTS__WEBHOOKS="https://a https://b"

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"webhook {parts.scheme}://{parts.hostname or ''}...: not an http(s) URL")
        return v

    @field_validator("budget_thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if any(not 0 < t <= 1000 for t in v):
            raise ValueError("budget_thresholds are percentages above 0 (100 = the whole budget)")
        return sorted(set(v))


class DlpConfig(_Section):
    """Data-loss prevention: scan the text a model will read for personal data and secrets."""

    mode: DlpMode = Field("off", description="off, log (stats only), block (403), redact (placeholders upstream)")
    entities: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENTITIES), description="entity types that count as findings"
    )
    score_threshold: float = Field(0.5, ge=0.0, le=1.0, description="presidio confidence a finding needs")
    max_scan_bytes: int = Field(524_288, gt=0, description="prompt text (UTF-8 bytes) scanned at most")
    max_scan_ms: int = Field(
        1_000, gt=0, description="time a scan may take, queueing included; keep well under sidecar.auth_timeout"
    )
    on_oversize: Literal["block", "allow", "default"] = Field(
        "default", description="verdict for a prompt not scanned in budget; default: block, or allow in log mode"
    )
    spacy_model: str | None = Field(
        None, description="installed spaCy model (package name or directory) for PERSON/LOCATION; never downloaded"
    )
    workers: int = Field(1, ge=0, le=64, description="scanner processes; 0 scans in the sidecar's event loop")
    inline_max_bytes: int = Field(
        4096,
        ge=0,
        description="prompts this small (and with at most 16 digits) are scanned in the event loop: a round trip "
        "to a worker costs more",
    )
    placeholder: str = Field("<{entity}>", description="what replaces a finding in redact mode; {entity} = type")

    @field_validator("entities")
    @classmethod
    def _entities(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for name in v:
            name = name.strip().upper()
            if name not in KNOWN_ENTITIES:
                raise ValueError(f"unknown DLP entity {name!r}; known: {', '.join(sorted(KNOWN_ENTITIES))}")
            if name not in out:
                out.append(name)
        return out

    @field_validator("placeholder")
    @classmethod
    def _placeholder(cls, v: str) -> str:
        try:
            v.format(entity="X")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"placeholder {v!r} may use only {{entity}} (and {{{{ }}}} for braces): {err}") from None
        return v

    @model_validator(mode="after")
    def _ner_needs_model(self) -> DlpConfig:
        ner = [e for e in self.entities if e in NER_ENTITIES]
        if ner and not self.spacy_model:
            raise ValueError(f"DLP entities {', '.join(ner)} need dlp.spacy_model (an installed spaCy NER model)")
        return self

    def oversize_action(self, mode: str) -> Literal["block", "allow"]:
        """What a prompt that could not be scanned gets in ``mode``."""
        if self.on_oversize != "default":
            return self.on_oversize
        return "allow" if mode == "log" else "block"


class OwnerLimits(BaseModel):
    """Limits shared by all keys of one owner (team); omitted = no limit. The settings are the policies'
    (``lmgate/policies/settings.py``), checked by their own parsers: an unknown name is an error."""

    model_config = ConfigDict(extra="allow")  # the parsed settings, by name

    @model_validator(mode="before")
    @classmethod
    def _settings(cls, data: Any) -> dict[str, Any]:
        return parse_owner_settings(data)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def __getattr__(self, name: str) -> Any:  # a setting not given reads as its default (no limit)
        try:
            return super().__getattr__(name)  # type: ignore[misc]
        except AttributeError:
            if name in SETTINGS:
                return SETTINGS[name].default
            raise


class PolicyConfig(_Section):
    store: str = Field("memory", description="'memory' (one sidecar process) or redis://host:port/db (shared)")
    store_timeout: float = Field(0.25, gt=0, description="seconds per Redis call; keep well under auth_timeout")
    on_store_error: Literal["closed", "open"] = Field("closed", description="store down: refuse (503) or allow")
    lease_ttl: float = Field(
        600.0, gt=0, description="seconds after which an unreleased max_parallel slot (and budget hold) frees"
    )
    budget_mode: Literal["reserve", "settle"] = Field(
        "reserve",
        description="reserve: a request holds the most it can cost against budgets until its stats line "
        "(budgets hold under concurrency; may refuse a request that would have fitted); "
        "settle: only finished spend counts (many requests started together can overshoot)",
    )
    # before owners: pydantic validates fields in order, and an extra policy's settings must be known by then
    extra: list[str] = Field(
        default_factory=list, description="modules of policies to add after lmgate's own (each defines POLICY)"
    )
    owners: dict[str, OwnerLimits] = Field(default_factory=dict)

    @field_validator("extra")
    @classmethod
    def _extra(cls, v: list[str]) -> list[str]:
        for path in v:
            register_module(path)
        return v

    @field_validator("store")
    @classmethod
    def _store(cls, v: str) -> str:
        if v == "memory":
            return v
        parts = urlsplit(v)
        if (parts.scheme in ("redis", "rediss") and parts.hostname) or (parts.scheme == "unix" and parts.path):
            return v
        raise ValueError(f"{v!r}: expected 'memory', redis://host:port/db, rediss://... or unix:///path")


class ProviderConfig(_Section):
    kind: str = Field(
        description="provider module: " + ", ".join(sorted(PROVIDERS)) + ", or the module path of a provider"
    )
    upstream: str = Field(description="provider base URL, e.g. https://api.openai.com")
    prefix: str = Field(description="client path prefix, e.g. /openai")
    #: the provider's own fields (Bedrock's region, aws, owner_aws), written flat in the entry and
    #: checked by its module's ``settings_model``
    settings: ProviderSettings = Field(default_factory=ProviderSettings, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _own_fields(cls, data: Any) -> Any:
        """Split the entry: kind/upstream/prefix here, every other key to the provider's settings model."""
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            return data  # pydantic reports the wrong type or the missing kind
        try:
            api = load_provider(data["kind"])
        except ValueError:
            return data  # _known_kind reports it, with the entry's location
        own = {k: v for k, v in data.items() if k not in _GENERIC_FIELDS}
        try:
            settings = api.settings_model.model_validate(own)
        except ValidationError as e:
            raise ValueError("; ".join(_setting_problem(api.name, err) for err in e.errors())) from None
        return {**{k: v for k, v in data.items() if k in _GENERIC_FIELDS}, "kind": api.name, "settings": settings}

    @model_validator(mode="after")
    def _provider_checks(self) -> ProviderConfig:
        get_provider(self.kind).check_settings(self.settings, self.upstream)
        return self

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        return load_provider(v).name

    @field_validator("upstream")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError(f"{v!r}: an upstream base URL takes no query or fragment")
        return v.rstrip("/")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", v):
            raise ValueError(f"{v!r} must look like /name (letters, digits, . _ ~ -)")
        return v

    @property
    def url(self):
        return urlsplit(self.upstream)


_GENERIC_FIELDS = ("kind", "upstream", "prefix")  # every other key of an entry is the provider's own


def _setting_problem(kind: str, err: Any) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{key}: not a setting of kind {kind}"
    return f"{key}: {err['msg'].removeprefix('Value error, ')}"


class Config(_Section):
    server: ServerConfig = ServerConfig()
    sidecar: SidecarConfig = SidecarConfig()
    allowlist: AllowlistConfig = AllowlistConfig()
    stats: StatsConfig = StatsConfig()
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    policies: PolicyConfig = PolicyConfig()
    pricing: PricingConfig = PricingConfig()
    rollups: RollupsConfig = RollupsConfig()
    audit: AuditConfig = AuditConfig()
    api: ApiConfig = ApiConfig()
    dlp: DlpConfig = DlpConfig()
    metrics: MetricsConfig = MetricsConfig()
    alerts: AlertsConfig = AlertsConfig()

    def spool_dir(self) -> Path:
        """The stats spool nginx writes and the sidecar reads (both render it from this config)."""
        if self.stats.spool_dir is not None:
            return self.stats.spool_dir.resolve()
        run_dir = self.server.run_dir.resolve()
        if os.access(SHM, os.W_OK | os.X_OK):
            tag = hashlib.sha256(str(run_dir).encode()).hexdigest()[:12]  # one spool per gateway on this host
            return SHM / f"lmgate-{os.geteuid()}-{tag}"
        return run_dir / "spool"

    def fast_socket(self) -> Path:
        """The Unix socket of /auth and /body (unused when ``sidecar.fast_port`` puts them on TCP).

        A Unix socket, not TCP loopback: no TCP stack (segments, ACKs) on either end of each /auth call,
        ~5 µs of CPU less per request for nginx and the sidecar each (docs/performance-history.md). Its
        default home is the spool directory: nginx's workers reach it by construction (another user under a
        root nginx; a volume both containers mount under docker compose)."""
        path = (self.sidecar.fast_socket or self.spool_dir() / FAST_SOCKET_NAME).resolve()
        if len(os.fsencode(path)) > MAX_UNIX_PATH:
            raise ConfigError(
                f"sidecar.fast_socket {path}: longer than a Unix socket path may be ({MAX_UNIX_PATH} bytes); "
                "set sidecar.fast_socket to a shorter path"
            )
        return path

    @model_validator(mode="before")
    @classmethod
    def _fill_providers(cls, data: Any) -> Any:
        """Default providers, and ``kind``/``prefix`` derived from the entry's name."""
        if not isinstance(data, dict):
            return data
        given = data.get("providers")
        if given is not None and not isinstance(given, dict):
            return data  # let pydantic report the wrong type
        providers: dict[str, Any] = default_provider_entries()
        for name, entry in (given or {}).items():
            if entry is None:  # `azure: ~` switches a default provider off
                providers.pop(name, None)
                continue
            providers[name] = {**providers.get(name, {}), **entry} if isinstance(entry, dict) else entry
        for name, entry in providers.items():
            if isinstance(entry, dict):
                entry.setdefault("kind", name if name in PROVIDERS else FALLBACK_KIND)
                entry.setdefault("prefix", f"/{name}")
                _fill_upstream(entry)
        return {**data, "providers": providers}

    @model_validator(mode="after")
    def _check_dlp_budget(self) -> Config:
        if self.dlp.max_scan_ms >= self.sidecar.auth_timeout * 1000:
            raise ValueError("dlp.max_scan_ms must stay under sidecar.auth_timeout, or nginx gives up first (503)")
        return self

    @model_validator(mode="after")
    def _check_timeouts(self) -> Config:
        if self.policies.store != "memory" and 2 * self.policies.store_timeout >= self.sidecar.auth_timeout:
            raise ValueError("policies.store_timeout must be under half of sidecar.auth_timeout (a retry must fit)")
        return self

    @model_validator(mode="after")
    def _check_providers(self) -> Config:
        seen: dict[str, str] = {}
        for name, p in self.providers.items():
            if not NAME_RE.match(name):
                raise ValueError(f"providers.{name}: name must be lower-case letters, digits and _")
            if p.prefix in seen:
                raise ValueError(f"providers.{name}: prefix {p.prefix} is also used by providers.{seen[p.prefix]}")
            if p.prefix == "/lmgate":
                raise ValueError(f"providers.{name}: prefix /lmgate is reserved for the gateway's own API")
            seen[p.prefix] = name
        return self


def _fill_upstream(entry: dict[str, Any]) -> None:
    """An entry without an upstream gets the one its provider derives from its fields (Bedrock: region)."""
    if "upstream" in entry or not isinstance(entry["kind"], str):
        return
    try:
        upstream = load_provider(entry["kind"]).upstream_for(entry)
    except ValueError:
        return  # the kind's validator reports it
    if upstream is not None:
        entry["upstream"] = upstream


def env_overlay(environ: Mapping[str, str]) -> dict[str, Any]:
    """``LMGATE_A__B__C=v`` -> ``{"a": {"b": {"c": "v"}}}``; pydantic converts the strings."""
    tree: dict[str, Any] = {}
    for var, value in sorted(environ.items()):
        if not var.startswith(ENV_PREFIX) or "__" not in var or var == "LMGATE_CONFIG":
            continue
        path = [part.lower() for part in var[len(ENV_PREFIX) :].split("__")]
        if any(not part for part in path):
            raise ConfigError(f"{var}: empty key segment (use single underscores inside names, __ between levels)")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{var}: conflicts with another LMGATE_ variable")
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML: {getattr(e, 'problem', None) or e}") from e
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(doc).__name__}")
    return doc


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load_config(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load defaults, then the YAML file, then ``LMGATE_*`` env variables."""
    environ = os.environ if environ is None else environ
    explicit = path is not None or "LMGATE_CONFIG" in environ
    cfg_path = Path(path or environ.get("LMGATE_CONFIG") or DEFAULT_CONFIG_PATH)
    data: dict[str, Any] = {}
    if cfg_path.exists() or explicit:
        data = _read_yaml(cfg_path)
    data = _merge(data, env_overlay(environ))
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(e, str(cfg_path) + " + LMGATE_* env")) from None
