"""The spool line's fields, in order: the one list nginx's ``log_format lmgate_spool`` is
rendered from (``log_format``, passed to nginx.conf.j2 by nginx_conf.py) and the sidecar
reads the line by (``spool.FIELDS``, ``build.fact_names``).

A line is the version, the fields, then the response capture, tab-separated. One field,
``X-Lmgate-Facts``, holds nginx's facts about the request ``|``-separated: the fixed ones, then
the response headers that carry usage for some provider (``Provider.usage_headers``, Bedrock's
InvokeModel token counts), under their own names. A provider added later appends its headers,
so lines written before still parse (missing facts read as empty).
"""

from __future__ import annotations

from lmgate.handoff import CTX_HEADER
from lmgate.providers import PROVIDERS

VERSION = "1"
FACTS_FIELD = "X-Lmgate-Facts"

#: (name the sidecar reads the field by, nginx variable), in line order; the facts field is rendered
#: from FACTS and the usage headers
FIELD_VARIABLES: tuple[tuple[str, str], ...] = (
    ("X-Lmgate-Provider", "$lmgate_provider"),
    ("X-Lmgate-Request-Id", "$request_id"),
    (CTX_HEADER, "$lmgate_ctx"),
    ("X-Lmgate-Content-Type", "$sent_http_content_type"),
    ("X-Lmgate-Content-Encoding", "$sent_http_content_encoding"),
    (FACTS_FIELD, ""),
)
FIELDS = tuple(name for name, _ in FIELD_VARIABLES)

#: the facts before the usage headers: (name, nginx variable); ``msec`` stays 4th (spool.parse_line)
FACTS: tuple[tuple[str, str], ...] = (
    ("status", "$status"),
    ("completion", "$request_completion"),
    ("request_time", "$request_time"),
    ("msec", "$msec"),
    ("auth_time", "$lmgate_auth_time"),
    ("upstream_header_time", "$upstream_header_time"),
    ("bytes_sent", "$body_bytes_sent"),
    ("capture_gap", "$lmgate_capture_gap"),
    ("tail", "$lmgate_tail"),
    ("gateway_error", "$lmgate_error"),
)
MSEC_INDEX = 3

#: slots of gate.js's capture ring (nginx/njs/capture.js), appended to the capture in the body field
TAIL_SLOTS = 8
BODY = "$lmgate_capture" + "".join(f"$lmgate_t{i}" for i in range(TAIL_SLOTS))

_USAGE_HEADERS: dict[int, tuple[str, ...]] = {}
_FACT_NAMES: dict[int, tuple[str, ...]] = {}


def usage_headers() -> tuple[str, ...]:
    """Every registered provider's usage headers, each once, in registry order (cached: the registry only grows)."""
    known = _USAGE_HEADERS.get(len(PROVIDERS))
    if known is None:
        names = dict.fromkeys(h for api in PROVIDERS.values() for h in api.usage_headers)
        known = _USAGE_HEADERS[len(PROVIDERS)] = tuple(names)
    return known


def fact_names() -> tuple[str, ...]:
    """The names of the facts field's values, in order (read once per spool line: cached)."""
    known = _FACT_NAMES.get(len(PROVIDERS))
    if known is None:
        known = _FACT_NAMES[len(PROVIDERS)] = (*(name for name, _ in FACTS), *usage_headers())
    return known


def log_format() -> str:
    """The ``log_format lmgate_spool`` string (inside its single quotes; nginx reads ``\\t`` as a tab)."""
    facts = "|".join([*(var for _, var in FACTS), *("$upstream_http_" + h.replace("-", "_") for h in usage_headers())])
    fields = [facts if name == FACTS_FIELD else var for name, var in FIELD_VARIABLES]
    return "\\t".join([VERSION, *fields, BODY])
