"""Reassembling nginx's capture: published head/tail plus the ring of newest chunks."""

from __future__ import annotations

import gzip

import pytest

from lmgate.stats.capture import RING, decode, reassemble
from lmgate.streams import Capture


def ring_body(capture: bytes, chunks: list[bytes], published: int) -> tuple[bytes, str]:
    """What nginx posts: the capture, then the 8 ring slots in slot order, and the layout header."""
    slots = [b""] * RING
    for i, chunk in enumerate(chunks):
        slots[i % RING] = chunk
    lens = ",".join(str(len(x)) for x in slots)
    return capture + b"".join(slots), f"{len(chunks)},{published}:{lens}"


def test_ring_chunks_after_the_last_publish_are_appended_in_order():
    chunks = [f"data: {i}\n\n".encode() for i in range(5)]
    body, tail = ring_body(b"".join(chunks[:3]), chunks, published=3)
    cap = reassemble(body, "", tail)
    assert cap == Capture(b"".join(chunks), [])


def test_chunks_already_published_are_not_repeated():
    chunks = [b"a\n", b"b\n", b"c\n"]
    body, tail = ring_body(b"a\nb\nc\n", chunks, published=3)
    assert reassemble(body, "", tail).data == b"a\nb\nc\n"


def test_ring_overrun_leaves_a_gap_and_lines_are_rejoined():
    chunks = [f"data: {i}\n".encode() for i in range(20)]
    body, tail = ring_body(b"".join(chunks[:2]), chunks, published=2)
    cap = reassemble(body, "", tail)
    assert cap.gaps == [len(b"".join(chunks[:2]))]
    assert cap.data.endswith(b"".join(chunks[12:]))
    assert cap.lines_joined().splitlines()[-1] == b"data: 19"


def test_head_tail_gap_cuts_partial_lines_on_both_sides():
    cap = Capture(b"line1\nli" + b"ne9\nline10\n", [8])
    assert cap.lines_joined() == b"line1\n\nline10\n"


@pytest.mark.parametrize("tail", ["", "garbage", "3,1:1,2", "1,2:0,0,0,0,0,0,0,0", "2,0:999,0,0,0,0,0,0,0"])
def test_a_bad_or_missing_layout_header_keeps_the_body_as_the_capture(tail):
    assert reassemble(b"whole body", "", tail) == Capture(b"whole body", [])


def test_decode_handles_gzip_deflate_and_a_cut_gzip_stream():
    text = b'{"usage": {"prompt_tokens": 3}}' * 50
    packed = gzip.compress(text)
    assert decode(packed, "gzip") == text
    assert text.startswith(decode(packed[: len(packed) // 2], "gzip"))
    assert decode(b"plain", "") == b"plain"
    assert decode(b"x", "br") is None
