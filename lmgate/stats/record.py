"""The stats line contract: every field named once, in the order written."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# error_type values: what went wrong, or None for a clean 2xx answer
UPSTREAM_ERROR = "upstream_error"  # provider answered non-2xx
CLIENT_DISCONNECT = "client_disconnect"  # client went away before the end
CAPTURE_TRUNCATED = "capture_truncated"  # body larger than the capture cap
UNREADABLE_BODY = "unreadable_body"  # encoding or framing we could not read
UPSTREAM_UNREACHABLE = "upstream_unreachable"  # nginx could not reach the provider
# set by njs (gate.js capture) when the provider broke off an answer nginx had begun to send:
UPSTREAM_TIMEOUT = "upstream_timeout"  # no byte for server.upstream_timeout; nginx cut the answer there
UPSTREAM_CLOSED = "upstream_closed"  # the provider closed the connection before the answer's end


@dataclass(slots=True)
class StatsRecord:
    ts: str
    request_id: str
    key_id: str | None
    owner: str | None
    provider: str
    endpoint: str
    model: str | None
    status: int
    stream: bool
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    usage_source: str = "none"
    cost_usd: float | None = None
    latency_ms: float | None = None
    ttfb_ms: float | None = None
    gateway_ms: float | None = None  # time nginx held the request before forwarding it (/auth, DLP); None: not sent
    bytes_sent: int | None = None
    masked_key: str | None = None
    error_type: str | None = None
    dlp: dict | None = None  # mode, action, findings {type: count}, skipped, scan_ms; None when DLP is off

    def as_dict(self) -> dict:
        return asdict(self)
