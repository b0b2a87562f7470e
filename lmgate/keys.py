"""Finding the client's key in a request, hashing it, and masking it for logs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

MASK_SHOWN = 6  # characters of a key kept in stats and logs


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
