"""Stream framing only: bytes of a captured response body (``Capture``: with the offsets where bytes are
missing) -> parsed events.

No provider knowledge lives here; provider modules read the events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson


@dataclass(slots=True)
class Capture:
    data: bytes
    gaps: list[int] = field(default_factory=list)  # offsets in ``data`` where bytes are missing

    def lines_joined(self) -> bytes:
        """The data with a partial line on each side of every gap dropped (for line-framed streams)."""
        if not self.gaps:
            return self.data
        out, start = [], 0
        for gap in [*self.gaps, len(self.data)]:
            piece = self.data[start:gap]
            if start:  # a line cut at the gap before this piece
                nl = piece.find(b"\n")
                piece = piece[nl + 1 :] if nl >= 0 else b""
            if gap < len(self.data):  # a line cut at the gap after it
                cut = piece.rfind(b"\n")
                piece = piece[: cut + 1] if cut >= 0 else b""
            out.append(piece)
            start = gap
        return b"\n".join(out)


def sse_events(body: bytes) -> Iterator[dict]:
    """Yield the JSON object of every complete ``data:`` line of an SSE body.

    Lines that are not JSON (``[DONE]``, comments, a line cut by the capture
    cap) are skipped: a partial stream must still give what it can.
    """
    for line in body.splitlines():
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == b"[DONE]":
            continue
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            yield event


def json_array_events(body: bytes) -> Iterator[dict]:
    """Objects of a streamed JSON array (Gemini without ``alt=sse``); a cut array gives its whole items."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = _whole_items(body)
    if isinstance(doc, dict):
        doc = [doc]
    for item in doc if isinstance(doc, list) else ():
        if isinstance(item, dict):
            yield item


def _whole_items(body: bytes) -> list:
    """Items of a truncated ``[{..},{..},{..`` array: close it after the last complete object."""
    end = body.rfind(b"}")
    while end > 0:
        try:
            doc = orjson.loads(body[: end + 1] + b"]")
        except orjson.JSONDecodeError:
            end = body.rfind(b"}", 0, end)
            continue
        return doc if isinstance(doc, list) else []
    return []
