"""Byte spans of JSON string values in the raw body, and splicing new strings into them.

Redaction must leave every other byte of the client's body as it was. Decoded
offsets differ from raw ones (``\\u00e9``, ``\\n``, ``\\"``), so the span of the
whole string token (quotes included) is found in the raw bytes and replaced by
the re-encoded new string. Only containers on the way to a target are walked key
by key; every other value is skipped by regex, so large bodies cost little.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import orjson

from lmgate.providers.base import JsonPath

Span = tuple[int, int]

_WS = re.compile(rb"[ \t\n\r]*")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_STRUCTURE = re.compile(rb'["\[\]{}]')


class SpanError(ValueError):
    """The body cannot be redacted safely (a target is missing, not a string, or its key is duplicated)."""


def locate(raw: bytes, paths: Collection[JsonPath]) -> dict[JsonPath, Span]:
    """``[start, end)`` byte span of the string token (quotes included) at each path."""
    targets = set(paths)
    prefixes = {p[:i] for p in targets for i in range(len(p))}
    found: dict[JsonPath, Span] = {}
    walker = _Walker(raw, targets, prefixes, found)
    end = walker.value(walker.ws(0), ())
    if walker.ws(end) != len(raw):
        raise SpanError("trailing data after the JSON document")
    missing = targets - found.keys()
    if missing:
        raise SpanError(f"{len(missing)} prompt field(s) not found in the raw body")
    return found


def splice(raw: bytes, replacements: Mapping[Span, bytes]) -> bytes:
    """``raw`` with each span replaced; spans must not overlap."""
    out: list[bytes] = []
    pos = 0
    for (start, end), new in sorted(replacements.items()):
        if start < pos:
            raise SpanError("overlapping spans")
        out += (raw[pos:start], new)
        pos = end
    out.append(raw[pos:])
    return b"".join(out)


def replace_strings(raw: bytes, new_values: Mapping[JsonPath, str]) -> bytes:
    """``raw`` with the string at each path replaced by its new value; all other bytes unchanged."""
    spans = locate(raw, new_values.keys())
    return splice(raw, {spans[path]: orjson.dumps(text) for path, text in new_values.items()})


class _Walker:
    """A recursive-descent scanner over raw JSON that records target string spans."""

    def __init__(self, raw: bytes, targets: set[JsonPath], prefixes: set[JsonPath], found: dict[JsonPath, Span]):
        self.raw, self.targets, self.prefixes, self.found = raw, targets, prefixes, found

    def ws(self, pos: int) -> int:
        return _WS.match(self.raw, pos).end()

    def expect(self, pos: int, char: bytes) -> int:
        if self.raw[pos : pos + 1] != char:
            raise SpanError(f"expected {char.decode()!r} at byte {pos}")
        return pos + 1

    def string(self, pos: int) -> int:
        m = _STRING.match(self.raw, pos)
        if m is None:
            raise SpanError(f"expected a string at byte {pos}")
        return m.end()

    def value(self, pos: int, path: JsonPath) -> int:
        """Parse (if on the way to a target) or skip the value at ``pos``; return where it ends."""
        if path in self.targets:
            end = self.string(pos)  # a non-string raises: prompt_fields only names strings
            self.found[path] = (pos, end)
            return end
        if path not in self.prefixes:
            return self.skip(pos)
        char = self.raw[pos : pos + 1]
        if char == b"{":
            return self.obj(pos, path)
        if char == b"[":
            return self.array(pos, path)
        raise SpanError(f"expected an object or array at byte {pos}")

    def obj(self, pos: int, path: JsonPath) -> int:
        pos = self.ws(pos + 1)
        if self.raw[pos : pos + 1] == b"}":
            return pos + 1
        seen: set[str] = set()
        while True:
            key_end = self.string(pos)
            key_raw = self.raw[pos:key_end]
            key = orjson.loads(key_raw) if b"\\" in key_raw else key_raw[1:-1].decode()
            if key in seen:  # parsers differ on which copy wins: the scanned one might not be sent
                raise SpanError("duplicate key in an object on the way to a prompt field")
            seen.add(key)
            pos = self.ws(self.expect(self.ws(key_end), b":"))
            pos = self.ws(self.value(pos, (*path, key)))
            if self.raw[pos : pos + 1] == b"}":
                return pos + 1
            pos = self.ws(self.expect(pos, b","))

    def array(self, pos: int, path: JsonPath) -> int:
        pos = self.ws(pos + 1)
        if self.raw[pos : pos + 1] == b"]":
            return pos + 1
        index = 0
        while True:
            pos = self.ws(self.value(pos, (*path, index)))
            if self.raw[pos : pos + 1] == b"]":
                return pos + 1
            pos = self.ws(self.expect(pos, b","))
            index += 1

    def skip(self, pos: int) -> int:
        """End of the value at ``pos``, not descending: brackets are counted, strings jumped over."""
        char = self.raw[pos : pos + 1]
        if char == b'"':
            return self.string(pos)
        if char not in (b"{", b"["):
            m = _SCALAR.match(self.raw, pos)
            if m is None:
                raise SpanError(f"unexpected byte at {pos}")
            return m.end()
        depth = 0
        while True:
            m = _STRUCTURE.search(self.raw, pos)
            if m is None:
                raise SpanError("unterminated container")
            pos = m.start()
            char = self.raw[pos : pos + 1]
            if char == b'"':
                pos = self.string(pos)
                continue
            depth += 1 if char in (b"{", b"[") else -1
            pos += 1
            if depth == 0:
                return pos
