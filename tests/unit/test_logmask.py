"""Masking credentials in log text: the Python rules (lmgate up, the sidecar) and the perl filter
(nginx in docker-compose) give the same output, byte for byte."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from lmgate.logmask import MaskingFormatter, copy_masked, mask_bytes, mask_secrets

PERL_FILTER = Path(__file__).resolve().parents[2] / "nginx" / "logmask.pl"
GEMINI_KEY = "AIzaSyD-SECRET-exploration-0123456789abc"

# (log text, the same text masked): nginx's own lines first, then each rule's cases
CASES = [
    (
        "[error] 7#7: *3 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, "
        f'request: "POST /gemini/v1beta/models/m:generateContent?key={GEMINI_KEY} HTTP/1.1", '
        f'upstream: "http://127.0.0.1:9/v1beta/models/m:generateContent?key={GEMINI_KEY}", host: "gw"',
        "[error] 7#7: *3 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, "
        'request: "POST /gemini/v1beta/models/m:generateContent?key=…789abc HTTP/1.1", '
        'upstream: "http://127.0.0.1:9/v1beta/models/m:generateContent?key=…789abc", host: "gw"',
    ),
    (
        '[info] 1#1: *9 client sent too long header line: "x-api-key: sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789'
        '..." while reading client request headers, request: "POST /anthropic/v1/messages?alt=sse&key=opaque-key-42 '
        'HTTP/1.1"',
        '[info] 1#1: *9 client sent too long header line: "x-api-key: …456789..." while reading client request '
        'headers, request: "POST /anthropic/v1/messages?alt=sse&key=…-42 HTTP/1.1"',
    ),
    (
        'client sent invalid header line: "Authorization: Bearer my-virtual-key-0001" while reading',
        'client sent invalid header line: "Authorization: Bearer …0001" while reading',
    ),
    (
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "Authorization: AWS4-HMAC-SHA256 …f2b5d7",
    ),
    (
        "js: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/bedrock/aws4_request, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "js: AWS4-HMAC-SHA256 Credential=…equest, Signature=…f2b5d7",
    ),
    (
        "GET /x?X-Amz-Credential=ASIAXXXXXXXXXXXXXXXX%2F20260101&X-Amz-Security-Token=FwoGZXIvYXdzEJr"
        "&X-Amz-Signature=abcdef0123456789 HTTP/1.1",
        "GET /x?X-Amz-Credential=…260101&X-Amz-Security-Token=…EJr&X-Amz-Signature=…6789 HTTP/1.1",
    ),
    (  # a percent-encoded name is still the key parameter; look-alike names are not
        "GET /v1?%6Bey=percent-encoded-name-secret&api-key=azure-style-secret-1&monkey=not-a-secret&keys=fine&key=",
        "GET /v1?%6Bey=…secret&api-key=…ret-1&monkey=not-a-secret&keys=fine&key=",
    ),
    ("already masked: ?key=…abc123 x-api-key: …abc123 Bearer …abc123", None),
    (
        "sk-proj-0123456789abcdefghij AIzaSyA0123456789abcdefghijklmnop ya29.a0AfH6SMBx0123456789abcdef "
        "AKIAIOSFODNN7EXAMPLE ABSKQmVkcm9ja0FQSUtleS0xMjM0NTY3ODkw bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t",
        "…efghij …klmnop …abcdef …AMPLE …Y3ODkw …MuY29t",
    ),
    ("task-0123456789abcdefghij desk-0123456789abcdefghij 0123456789abcdef0123456789abcdef sk-short", None),
    ("Cookie: session=abc123def456; theme=dark", "Cookie: …e=dark"),
    ("x-goog-api-key:AIza-test-gemini-0123456789", "x-goog-api-key:…456789"),
    ("proxy-authorization: Basic dXNlcjpwYXNzd29yZA==", "proxy-authorization: Basic …yZA=="),
    ("über ?key=sk-test-0123456789abcdef ünd", "über ?key=…abcdef ünd"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_masks_each_credential_and_leaves_the_rest(text, expected):
    assert mask_secrets(text) == (text if expected is None else expected)


def test_masking_twice_changes_nothing():
    for text, _ in CASES:
        once = mask_secrets(text)
        assert mask_secrets(once) == once


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl is part of every Debian install and the nginx image")
def test_the_perl_filter_for_compose_masks_byte_for_byte_like_python():
    lines = b"".join(text.encode() + b"\n" for text, _ in CASES) + b"\xff\xfe not UTF-8 ?key=sk-raw-0123456789abcdef\n"
    run = subprocess.run(["perl", str(PERL_FILTER)], input=lines, capture_output=True, check=True)
    assert run.stderr == b""
    assert run.stdout == b"".join(mask_bytes(line) for line in lines.splitlines(keepends=True))
    assert GEMINI_KEY.encode() not in run.stdout and b"sk-raw-0123456789abcdef" not in run.stdout


def test_copy_masked_passes_each_line_on_masked():
    source = io.BytesIO(f"one ?key={GEMINI_KEY}\ntwo, no newline at the end".encode())
    sink = io.BytesIO()
    copy_masked(source, sink)
    assert sink.getvalue() == b"one ?key=\xe2\x80\xa6789abc\ntwo, no newline at the end"


def test_the_sidecar_formatter_masks_messages_and_tracebacks():
    formatter = MaskingFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError(f"invalid literal: 'Bearer {GEMINI_KEY}'")
    except ValueError:
        record = logging.LogRecord("lmgate", logging.ERROR, __file__, 1, "asked for %s", (f"?key={GEMINI_KEY}",), None)
        record.exc_info = __import__("sys").exc_info()
    text = formatter.format(record)
    assert GEMINI_KEY not in text
    assert "ERROR asked for ?key=…789abc" in text and "invalid literal: 'Bearer …789abc'" in text
