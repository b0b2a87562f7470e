"""Reassemble what nginx captured of a response: the published capture plus the ring of newest chunks.

The captured body in the spool line is ``capture ‖ t0 ‖ … ‖ t7`` (see nginx/njs/gate.js):
``capture`` is the head and tail of the response as last published (its middle
dropped past the cap, at ``$lmgate_capture_gap``), and ``t0..t7`` a ring of the
chunks that arrived after that publish. ``$lmgate_tail`` = ``seq,published_seq:
len0,…,len7`` says how to cut and order them. The result is the response bytes
in order, with the offsets where bytes are missing.
"""

from __future__ import annotations

import gzip
import zlib

from lmgate.streams import Capture

RING = 8


def reassemble(raw: bytes, gap_header: str, tail_header: str) -> Capture:
    if not gap_header and tail_header.endswith(_EMPTY_RING):  # the common case: every chunk published whole
        seq, _, published = tail_header[: -len(_EMPTY_RING)].partition(",")
        if seq == published:
            return Capture(raw)
    seq, published, lens = _parse_tail(tail_header)
    ring_len = sum(lens)
    if ring_len > len(raw):  # a header that does not match the body: trust the body alone
        seq, published, lens, ring_len = 0, 0, [0] * RING, 0
    capture, ring = raw[: len(raw) - ring_len], raw[len(raw) - ring_len :]
    gaps = []
    if gap_header.isdigit() and 0 < int(gap_header) < len(capture):
        gaps.append(int(gap_header))
    slots, offset = [], 0
    for n in lens:
        slots.append(ring[offset : offset + n])
        offset += n
    first = max(published, seq - RING)
    newer = [slots[i % RING] for i in range(first, seq)]
    data = capture
    if newer:
        if first > published:  # chunks between the last publish and the ring's oldest were overwritten
            gaps.append(len(data))
        data += b"".join(newer)
    return Capture(data, gaps)


_EMPTY_RING = ":" + ",".join(["0"] * RING)


def _parse_tail(header: str) -> tuple[int, int, list[int]]:
    try:
        counts, _, sizes = header.partition(":")
        seq, published = (int(x) for x in counts.split(","))
        lens = [int(x) for x in sizes.split(",")]
    except ValueError:
        return 0, 0, [0] * RING
    if len(lens) != RING or seq < published or min(lens) < 0:
        return 0, 0, [0] * RING
    return seq, published, lens


def decode(data: bytes, encoding: str) -> bytes | None:
    """Undo the upstream's Content-Encoding as far as the bytes go (a cut stream decodes up to the cut)."""
    if not encoding or encoding == "identity":
        return data
    wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15}.get(encoding)
    if wbits is None:
        return None
    try:
        return zlib.decompressobj(wbits).decompress(data)
    except zlib.error:
        if encoding == "deflate":  # some servers send raw deflate without the zlib header
            try:
                return zlib.decompressobj(-15).decompress(data)
            except zlib.error:
                return None
        return None


__all__ = ["Capture", "decode", "gzip", "reassemble"]
