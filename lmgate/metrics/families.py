"""Every metric family lmgate exports, named once: name, type, help, labels and histogram buckets.

Names follow Prometheus conventions (``lmgate_`` prefix, base units, counters
end in ``_total`` on the wire) and, where one exists, the OpenTelemetry GenAI
semantic conventions (token ``type``, request duration, time to first token).
docs/metrics.md maps each to LiteLLM's and Kong's names.
"""

from __future__ import annotations

from dataclasses import dataclass

COUNTER, GAUGE, HISTOGRAM, INFO = "counter", "gauge", "histogram", "info"


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # counters without the _total the exposition adds
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()  # histograms: upper bounds in seconds, +Inf implied


# Labels of the request families; key ids and owners come from the allow-list, models are capped.
WHO = ("provider", "model", "owner", "key_id")
PROVIDER_MODEL = ("provider", "model")
LIMIT_WHO = ("scope", "key_id", "owner")  # scope "key" or "owner"; key_id "" for an owner's limit

# LLM calls last from milliseconds (embeddings) to minutes (long streams).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFB_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# nginx's timers tick in milliseconds: finer buckets would stay empty.
OVERHEAD_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUESTS = Family(
    "lmgate_requests",
    COUNTER,
    "Finished requests (one per stats line): forwarded, failed or refused.",
    (*WHO, "status_class", "stream"),
)
TOKENS = Family(
    "lmgate_tokens",
    COUNTER,
    "Tokens of finished requests by type: input (cache reads and writes included), output (reasoning included), "
    "cache_read, cache_write, reasoning.",
    (*WHO, "type"),
)
COST = Family("lmgate_cost_usd", COUNTER, "Cost of finished requests in US dollars (priced models only).", WHO)
DURATION = Family(
    "lmgate_request_duration_seconds",
    HISTOGRAM,
    "Time from nginx reading the request to its last byte sent to the client.",
    PROVIDER_MODEL,
    DURATION_BUCKETS,
)
TTFB = Family(
    "lmgate_time_to_first_byte_seconds",
    HISTOGRAM,
    "Time from nginx reading the request to the provider's response headers (first byte of a stream).",
    PROVIDER_MODEL,
    TTFB_BUCKETS,
)
OVERHEAD = Family(
    "lmgate_gateway_overhead_seconds",
    HISTOGRAM,
    "Time the gateway added before forwarding: reading the body, the /auth round trip, DLP, njs.",
    PROVIDER_MODEL,
    OVERHEAD_BUCKETS,
)
REFUSALS = Family(
    "lmgate_refusals",
    COUNTER,
    "Requests the gateway answered itself, by reason (docs/metrics.md lists them).",
    ("provider", "reason"),
)
UPSTREAM_ERRORS = Family(
    "lmgate_upstream_errors",
    COUNTER,
    "Provider answers with an error status, and providers nginx could not reach (502).",
    ("provider", "status_class"),
)
DLP_FINDINGS = Family(
    "lmgate_dlp_findings",
    COUNTER,
    "Data-loss prevention findings in prompts, by entity type and what was done (allow, block, redact).",
    ("provider", "entity_type", "action"),
)
BUDGET_SPEND = Family(
    "lmgate_budget_spend_usd",
    GAUGE,
    "Spend in the current budget period, as the budget is enforced (shared through Redis when configured).",
    (*LIMIT_WHO, "period"),
)
BUDGET_RESERVED = Family(
    "lmgate_budget_reserved_usd",
    GAUGE,
    "USD held against the budget by requests in flight (budget_mode reserve): the most they can cost, "
    "not spent yet; spend + reserved is what the next request must fit under.",
    (*LIMIT_WHO, "period"),
)
BUDGET_LIMIT = Family("lmgate_budget_limit_usd", GAUGE, "Budget per period.", (*LIMIT_WHO, "period"))
RATE_LIMIT = Family(
    "lmgate_ratelimit_limit", GAUGE, "Rate limits: rpm, tpm (per 60 s) and max_parallel.", (*LIMIT_WHO, "rule")
)
RATE_REMAINING = Family(
    "lmgate_ratelimit_remaining",
    GAUGE,
    "What is left of each rate limit now: requests or tokens in the last 60 s, requests in flight.",
    (*LIMIT_WHO, "rule"),
)
SPOOL_LAG = Family(
    "lmgate_stats_spool_lag_seconds",
    GAUGE,
    "How far stats lines run behind nginx: the longest a finished request waited in the spool in the last "
    "minute, or the time since the sidecar's last pass over it.",
)
LINES_WRITTEN = Family("lmgate_stats_lines_written", COUNTER, "Stats lines written to the JSONL file.")
LINES_BUFFERED = Family("lmgate_stats_lines_buffered", GAUGE, "Stats lines in memory, not yet written.")
LINES_DROPPED = Family("lmgate_stats_lines_dropped", COUNTER, "Stats lines dropped: the memory buffer was full.")
WRITE_ERRORS = Family("lmgate_stats_write_errors", COUNTER, "Failed writes of the JSONL file (lines kept, retried).")
ROLLUPS_STORE_UP = Family(
    "lmgate_rollups_store_up", GAUGE, "1 when the rollups store took the last lines written (0: PostgreSQL down)."
)
ROLLUPS_PENDING = Family(
    "lmgate_rollups_pending_lines", GAUGE, "Stats lines in the JSONL not yet counted in the shared rollups store."
)
SPOOL_BAD_LINES = Family("lmgate_stats_spool_bad_lines", COUNTER, "Spool lines that could not be read.")
ROLLUPS_REBUILDING = Family(
    "lmgate_rollups_rebuilding", GAUGE, "1 while the usage rollups are rebuilt from the stats files (reads answer 503)."
)
ROLLUPS_PROGRESS = Family(
    "lmgate_rollups_rebuild_progress", GAUGE, "Share of the stats files the rollups' rebuild has read (1 when done)."
)
ALLOWLIST_KEYS = Family("lmgate_allowlist_keys", GAUGE, "Keys in the allow-list in force.")
ALLOWLIST_RELOADS = Family(
    "lmgate_allowlist_reloads", COUNTER, "Allow-list reloads after an edit, by result (ok, rejected).", ("result",)
)
ALLOWLIST_LOADED = Family(
    "lmgate_allowlist_last_load_timestamp_seconds", GAUGE, "When the allow-list in force was read (epoch seconds)."
)
STORE_ERRORS = Family(
    "lmgate_policy_store_errors",
    COUNTER,
    "Policy store calls that failed: deciding or recording requests, or reading limits for these metrics.",
    ("source",),
)
ALERTS = Family(
    "lmgate_alert_notifications",
    COUNTER,
    "Webhook notifications by kind (budget, rate_limit) and result (sent, failed, dropped).",
    ("kind", "result"),
)
BUILD = Family("lmgate_build", INFO, "lmgate's version and the Python running it.", ("version", "python"))

ALL: tuple[Family, ...] = (
    REQUESTS,
    TOKENS,
    COST,
    DURATION,
    TTFB,
    OVERHEAD,
    REFUSALS,
    UPSTREAM_ERRORS,
    DLP_FINDINGS,
    BUDGET_SPEND,
    BUDGET_LIMIT,
    RATE_LIMIT,
    RATE_REMAINING,
    SPOOL_LAG,
    LINES_WRITTEN,
    LINES_BUFFERED,
    LINES_DROPPED,
    WRITE_ERRORS,
    SPOOL_BAD_LINES,
    ROLLUPS_REBUILDING,
    ROLLUPS_PROGRESS,
    ALLOWLIST_KEYS,
    ALLOWLIST_RELOADS,
    ALLOWLIST_LOADED,
    STORE_ERRORS,
    ALERTS,
    BUILD,
)
