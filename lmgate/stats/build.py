"""Turn what nginx wrote to the stats spool (or a refusal at /auth) into one StatsRecord."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lmgate.errors import ErrorType
from lmgate.handoff import CTX_HEADER, Handoff
from lmgate.pricing import PriceBook
from lmgate.providers.base import Provider
from lmgate.stats.capture import decode, reassemble
from lmgate.stats.line import FACTS, FACTS_FIELD, fact_names, usage_headers
from lmgate.stats.record import StatsRecord
from lmgate.tokens import count_tokens
from lmgate.usage import Usage


@dataclass(slots=True)
class Exchange:
    """The nginx side of one proxied request, as posted by ``@lmgate_stats``."""

    provider: str
    request_id: str
    handoff: Handoff
    status: int
    upstream_header_time: float | None  # None: no answer from the provider
    auth_time: float
    request_time: float
    end: float  # epoch seconds when nginx finished
    bytes_sent: int
    completed: bool
    content_type: str
    content_encoding: str
    capture_gap: str  # bytes of head kept before the capture dropped its middle ("" if it did not)
    tail: str  # the capture ring's layout (stats/capture.py)
    usage_headers: dict[str, str]  # upstream response headers that carry usage (Provider.usage_headers)
    gateway_error: str | None  # set by nginx when it answered itself (too_large, upstream_unreachable)

    @classmethod
    def from_headers(cls, h: Mapping[str, str], handoff: Handoff | None = None) -> Exchange:
        """``handoff``: X-Lmgate-Ctx already decoded, if the caller has it."""
        f = _fact_values(h)  # by position: a dict by name per line showed in the stats line's profile
        completed = f[_COMPLETION] == "OK"
        usage = f[_USAGE_FROM:]
        # Positional: keyword arguments cost more than the rest of this per line (field order above).
        return cls(
            h.get("X-Lmgate-Provider", ""),  # provider
            h.get("X-Lmgate-Request-Id", ""),  # request_id
            handoff if handoff is not None else Handoff.decode(h.get(CTX_HEADER, "")),
            _status(f[_STATUS], completed),
            _seconds(f[_UPSTREAM_HEADER_TIME]),  # upstream_header_time
            _seconds(f[_AUTH_TIME]) or 0.0,  # auth_time
            _seconds(f[_REQUEST_TIME]) or 0.0,  # request_time
            _seconds(f[_MSEC]) or 0.0,  # end
            int_or_zero(f[_BYTES_SENT]),  # bytes_sent
            completed,
            h.get("X-Lmgate-Content-Type", "").lower(),  # content_type
            h.get("X-Lmgate-Content-Encoding", "").lower().strip(),  # content_encoding
            f[_CAPTURE_GAP],  # capture_gap
            f[_TAIL],  # tail
            {name: value for name, value in zip(usage_headers(), usage, strict=False) if value}  # usage_headers
            if any(usage)
            else {},
            f[_GATEWAY_ERROR] or None,  # gateway_error
        )


_FIXED = tuple(name for name, _ in FACTS)
_STATUS, _COMPLETION, _REQUEST_TIME, _MSEC, _AUTH_TIME, _UPSTREAM_HEADER_TIME = (
    _FIXED.index(name) for name in ("status", "completion", "request_time", "msec", "auth_time", "upstream_header_time")
)
_BYTES_SENT, _CAPTURE_GAP, _TAIL, _GATEWAY_ERROR = (
    _FIXED.index(name) for name in ("bytes_sent", "capture_gap", "tail", "gateway_error")
)
_USAGE_FROM = len(FACTS)  # the usage headers follow the fixed facts (stats/line.py)


def _fact_values(h: Mapping[str, str]) -> list[str]:
    """X-Lmgate-Facts in ``fact_names()`` order; missing fields, and those nginx logged as ``-`` (no such
    variable), empty. By position: a dict by name per line showed in the stats line's profile."""
    n = len(fact_names())
    values = h.get(FACTS_FIELD, "").split("|")
    if len(values) < n:
        values += [""] * (n - len(values))
    return ["" if v == "-" else v for v in values]


def facts(h: Mapping[str, str]) -> dict[str, str]:
    """X-Lmgate-Facts by name (see ``_fact_values``)."""
    return dict(zip(fact_names(), _fact_values(h), strict=False))


def _status(value: str | None, completed: bool) -> int:
    """nginx's $status; nginx logs 499 when the client left first (the post_action it replaced printed
    the HTTP version 0.9 as ``9`` then: read as 499 too)."""
    status = int_or_zero(value)
    return 499 if status < 100 and not completed else status


def int_or_zero(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _seconds(value: str | None) -> float | None:
    """nginx timings: ``0.123``, ``-`` or, after retries, ``0.010, 0.120`` (the last counts)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:  # retries, or "-"
        pass
    last = value.rsplit(",", 1)[-1].strip()
    try:
        return float(last)
    except ValueError:
        return None


def _iso(epoch: float) -> str:
    """``2026-11-24T09:05:03.123Z``, as datetime would print it (microseconds rounded half-even, then cut)."""
    frac, whole = math.modf(epoch)
    second, micros = int(whole), round(frac * 1e6)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:
        second, micros = second - 1, micros + 1_000_000
    prefix = _ISO_SECONDS.get(second)
    if prefix is None:  # formatting each line's whole date showed in profiles; a few new seconds a second
        if len(_ISO_SECONDS) > 4096:
            _ISO_SECONDS.clear()
        prefix = _ISO_SECONDS[second] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{prefix}.{micros // 1000:03d}Z"


_ISO_SECONDS: dict[int, str] = {}


def exchange_record(ex: Exchange, api: Provider, body: bytes, prices: PriceBook) -> StatsRecord:
    stream = ex.handoff.stream or ex.content_type.startswith(api.stream_content_types)
    error_type = None
    captured = reassemble(body, ex.capture_gap, ex.tail)
    if not captured.gaps:
        decoded = decode(captured.data, ex.content_encoding)
    else:  # a compressed stream cannot resume after a gap
        decoded = None if ex.content_encoding else api.rejoin(captured)
    usage = _usage(ex, api, decoded, stream) if 200 <= ex.status < 300 else Usage()
    if ex.gateway_error:  # nginx or njs named it: a refusal of its own, or a provider that broke off
        error_type = ex.gateway_error
    elif not ex.completed and usage.usage_source != "provider":
        # SDKs hang up right after the final event; with the provider's usage in hand the stream was whole
        error_type = ErrorType.CLIENT_DISCONNECT
    elif ex.status >= 400:
        error_type = ErrorType.UPSTREAM_ERROR if ex.upstream_header_time is not None else ErrorType.UPSTREAM_UNREACHABLE
    elif captured.gaps:
        error_type = ErrorType.CAPTURE_TRUNCATED
    elif decoded is None:
        error_type = ErrorType.UNREADABLE_BODY
    h = ex.handoff
    model = usage.model or h.model
    # Positional (StatsRecord's field order): its 23 keyword arguments cost ~0.6 us a line.
    return StatsRecord(
        _iso(ex.end - ex.request_time),  # ts
        ex.request_id,
        h.key_id,
        h.owner,
        ex.provider,
        h.endpoint,
        model,
        ex.status,
        stream,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
        usage.usage_source,
        prices.cost(api.name, model, usage),  # cost_usd
        _ms(ex.request_time),  # latency_ms
        _ttfb_ms(ex),
        _gateway_ms(ex),
        ex.bytes_sent,
        h.masked_key,
        error_type,
        h.dlp,
    )


def _usage(ex: Exchange, api: Provider, decoded: bytes | None, stream: bool) -> Usage:
    """The provider's usage from the body, else from its headers, else an estimate for a stream."""
    usage = api.usage_from_body(decoded, stream) if decoded is not None else Usage()
    if usage.usage_source == "none" and ex.usage_headers:
        usage = api.usage_from_headers(ex.usage_headers) or usage
    if usage.usage_source == "none" and stream and decoded is not None:
        # e.g. an OpenAI stream without include_usage: count what was asked and what came back
        text = api.text_from_events(api.events(decoded))
        usage = Usage(
            input_tokens=ex.handoff.prompt_estimate,
            output_tokens=count_tokens(text),
            model=usage.model,
            usage_source="estimated",
        )
    return usage


def _ttfb_ms(ex: Exchange) -> float | None:
    """Time to the provider's first byte; nginx's timers tick in ms, so rounding may pass the total."""
    if ex.upstream_header_time is None:
        return None
    return _ms(min(ex.auth_time + ex.upstream_header_time, ex.request_time))


def _gateway_ms(ex: Exchange) -> float | None:
    """What the gateway added before the provider saw the request: nginx's time up to forwarding it
    (reading the body, the /auth round trip, DLP, njs). None when /auth allowed nothing (no handoff):
    nginx answered itself (413, 503)."""
    if not ex.handoff.key_id:
        return None
    return _ms(min(ex.auth_time, ex.request_time))


def _ms(seconds: float) -> float:
    """``round(seconds * 1000, 3)``, cheaper: round(x, 3) converts to decimal and back, and nginx's times are
    whole milliseconds. A product within 1e-6 of a whole number N rounds to N at 3 decimals, exactly."""
    ms = seconds * 1000
    if ms.is_integer():
        return ms
    whole = round(ms)
    return float(whole) if whole > 0 and abs(ms - whole) < 1e-6 else round(ms, 3)


def refusal_record(
    *, route: str, handoff: Handoff, status: int, error_type: str, request_id: str, now: float
) -> StatsRecord:
    """The line for a request the gateway refused: it never reached the provider."""
    return StatsRecord(
        ts=_iso(now),
        request_id=request_id,
        key_id=handoff.key_id,
        owner=handoff.owner,
        provider=route,
        endpoint=handoff.endpoint,
        model=handoff.model,
        status=status,
        stream=handoff.stream,
        masked_key=handoff.masked_key,
        error_type=error_type,
        dlp=handoff.dlp,
    )
