"""Byte spans of JSON string values in the raw body, and edits spliced into them in place.

Redaction must leave every other byte of the client's body as it was, the rest of
an edited string included (``\\u00e9`` stays ``\\u00e9``, ``\\/`` stays ``\\/``). The
span of the whole string token is found in the raw bytes; inside it, offsets of
the decoded string (where findings are) are mapped back to raw offsets, across
escapes and multi-byte UTF-8, and only the raw bytes of each finding are replaced.
Only containers on the way to a target are walked key by key; every other value
is skipped by regex, so large bodies cost little.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

import orjson

from lmgate.providers.base import JsonPath

Span = tuple[int, int]
#: ``[start, end)`` code point offsets in a decoded string value, and what replaces them
Edit = tuple[int, int, str]

_WS = re.compile(rb"[ \t\n\r]*")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_STRUCTURE = re.compile(rb'["\[\]{}]')
# inside a string token: a surrogate pair's escapes, one escape, or a run of plain (UTF-8) bytes
_SEGMENT = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\.|[^\\]+", re.DOTALL
)


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


def redact_strings(raw: bytes, edits: Mapping[JsonPath, Sequence[Edit]]) -> bytes:
    """``raw`` with, inside the string at each path, each ``(start, end, new)`` range of its decoded
    value replaced by ``new`` (JSON-escaped); every other byte unchanged. Ranges must not overlap."""
    spans = locate(raw, edits.keys())
    return splice(raw, {(start, end): _edit_token(raw[start:end], edits[path]) for path, (start, end) in spans.items()})


def _edit_token(token: bytes, ranges: Sequence[Edit]) -> bytes:
    """A string token (quotes included) with decoded ranges replaced, checked against the decoded edit."""
    ranges = sorted(ranges)
    offsets = _raw_offsets(token, [i for start, end, _ in ranges for i in (start, end)])
    pieces: list[bytes] = []
    value = orjson.loads(token)
    expected: list[str] = []
    pos = prev_end = 0
    for start, end, new in ranges:
        if start < prev_end or end < start:
            raise SpanError("overlapping edits in one string")
        pieces += (token[pos : offsets[start]], orjson.dumps(new)[1:-1])
        expected += (value[prev_end:start], new)
        pos, prev_end = offsets[end], end
    pieces.append(token[pos:])
    expected.append(value[prev_end:])
    edited = b"".join(pieces)
    if orjson.loads(edited) != "".join(expected):  # not for well-formed JSON; refuse rather than send garbage
        raise SpanError("an edited string does not decode to the intended text")
    return edited


def _raw_offsets(token: bytes, positions: Collection[int]) -> dict[int, int]:
    """Byte offset in ``token`` (a string token, quotes included) of each code point offset of its value."""
    wanted = sorted(set(positions))
    if wanted and wanted[0] < 0:
        raise SpanError("an edit lies outside its string")
    out: dict[int, int] = {}
    k = 0
    chars = 0  # code points decoded so far
    for m in _SEGMENT.finditer(token, 1, len(token) - 1):
        segment = m.group()
        text = None if segment[:1] == b"\\" else segment.decode()
        length = 1 if text is None else len(text)  # an escape (a surrogate pair's two too) is one code point
        while k < len(wanted) and wanted[k] < chars + length:
            inside = wanted[k] - chars
            out[wanted[k]] = m.start() + (len(text[:inside].encode()) if text is not None else 0)
            k += 1
        chars += length
    while k < len(wanted) and wanted[k] == chars:  # the end of the value
        out[wanted[k]] = len(token) - 1
        k += 1
    if k < len(wanted):
        raise SpanError("an edit lies outside its string")
    return out


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
