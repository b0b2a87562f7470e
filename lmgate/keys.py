"""Finding the client's key in a request, hashing it, and masking it for logs."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

from multidict import MultiMapping

MASK_SHOWN = 6  # characters of a key kept in stats and logs

#: Every place an LLM API may read a credential from, whichever the provider: lower-case header
#: names, and ``?name`` query parameters. Besides the keys the allow-list matches: Azure API
#: Management's subscription key, Google's OAuth ``access_token``/``oauth_token`` parameters (its
#: "system parameters"), and a presigned AWS request's ``X-Amz-Credential``. An OpenAI-compatible
#: upstream may read any of them, so every provider counts them all (``credential_places``).
CREDENTIAL_PLACES: tuple[str, ...] = (
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "ocp-apim-subscription-key",
    "?key",
    "?access_token",
    "?oauth_token",
    "?subscription-key",
    "?X-Amz-Credential",
)
_HEADER_PLACES = tuple(p for p in CREDENTIAL_PLACES if p[0] != "?")
_QUERY_PLACES = frozenset(p[1:] for p in CREDENTIAL_PLACES if p[0] == "?")
_QUERY_HINT = re.compile(r"key|token|Credential|%")  # in every name of _QUERY_PLACES, or an encoded name


def extract_key(headers: Mapping[str, str], query: str, sources: Iterable[str]) -> str | None:
    """The first key found in ``sources`` (lower-case header names, or ``?key``).

    ``authorization`` accepts ``Bearer <key>`` only: a Basic or other scheme is
    not an API key and must not be matched against the allow-list.
    """
    for source in sources:
        if source == "?key":
            value = _query_key(query)
        elif source == "authorization":
            value = _bearer(headers.get("authorization"))
        else:
            value = headers.get(source)
        if value:
            value = value.strip()
            if value:
                return value
    return None


def credential_places(headers: Mapping[str, str], query: str) -> list[str]:
    """Each place of ``CREDENTIAL_PLACES`` that holds a non-empty value, once per copy (a repeated
    header or parameter counts each time); names only, never a value.

    ``headers`` is a multidict (every copy counts) or a plain mapping. The query is also split
    at ``;``, which some servers read as a separator: counting more can only refuse more.
    """
    if isinstance(headers, MultiMapping):  # what /auth gets: a lookup per place, not a pass over every header
        found = [p for p in _HEADER_PLACES for value in headers.getall(p, ()) if value.strip()]
    else:
        found = [name.lower() for name, value in headers.items() if name.lower() in _HEADER_PLACES and value.strip()]
    if query and _QUERY_HINT.search(query):  # cheap test first: api-version=..., alt=sse hold none
        pairs = parse_qsl(query.replace(";", "&"), keep_blank_values=False)  # decodes names: %6Bey is key
        found += ["?" + name for name, value in pairs if name in _QUERY_PLACES and value.strip()]
    return found


def describe_places(places: Iterable[str]) -> str:
    """``x-api-key header (2 copies), ?key= query parameter``: each place once, in the order given."""
    counts = Counter(places)
    return ", ".join(
        (f"{p}= query parameter" if p[0] == "?" else f"{p} header") + (f" ({n} copies)" if n > 1 else "")
        for p, n in counts.items()
    )


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _query_key(query: str) -> str | None:
    if "key=" not in query:  # cheap test first: almost no request has it
        return None
    for name, value in parse_qsl(query, keep_blank_values=False):
        if name == "key":
            return value
    return None


def hash_key(key: str) -> str:
    # surrogateescape: a header's raw bytes that are no UTF-8 hash as sent (and never fail the request)
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def mask_key(key: str | None) -> str | None:
    """``…abc123``: the last 6 characters, fewer for short keys, so a key is never whole."""
    if not key:
        return None
    shown = min(MASK_SHOWN, len(key) // 4)
    return "…" + printable(key[-shown:]) if shown else "…"


def printable(text: str) -> str:
    """``text`` with a header's raw bytes that are no UTF-8 as U+FFFD, so JSON (stats, errors) can hold it."""
    return text if text.isascii() else text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
