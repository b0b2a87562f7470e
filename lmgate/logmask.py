"""No log line may hold a key: mask credentials in any text on its way to a log.

nginx's error lines carry the request line and the upstream URL (a Gemini
``?key=`` whole), and at ``info`` level the header line that was too long; nginx
cannot mask them itself. So ``lmgate up`` pipes nginx's error stream through
``copy_masked``, docker-compose pipes it through ``nginx/logmask.pl`` (the nginx
image has perl, not Python; ``tests/unit/test_logmask.py`` holds the two to the
same output), and the sidecar's own log lines go through ``MaskingFormatter``.

A secret is shown as ``keys.mask_key`` shows it on the stats line: ``…`` and its
last characters. What counts as a secret:

- a query parameter whose name (percent-decoded) is a key name: ``?key=``, ``api-key``,
  ``X-Amz-Signature``, ``X-Amz-Credential``, ``X-Amz-Security-Token`` ...;
- the value of a credential header written as ``name: value`` (``Authorization``, ``x-api-key``,
  ``api-key``, ``x-goog-api-key``, ``Cookie`` ...), after its scheme word (``Bearer``, ``AWS4-HMAC-SHA256``);
- a token after ``Bearer``, and ``Credential=``/``Signature=`` of a SigV4 header, wherever they appear;
- text in the shape of a provider key wherever it appears: ``sk-…`` (OpenAI, Anthropic), ``AIza…`` (Google),
  ``ya29.…`` (Google OAuth), ``AKIA``/``ASIA`` access key ids (the gateway's Bedrock key ids), ``ABSK…`` and
  ``bedrock-api-key-…`` (Bedrock API keys).
A secret already masked (it starts with ``…``) is left as it is.
"""

from __future__ import annotations

import logging
import re
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

from lmgate.keys import mask_key

MASKED = "…"
#: query parameters that carry a credential (compared after percent-decoding, ASCII letters lower-cased)
SECRET_PARAMS = frozenset(
    (
        b"key",
        b"api-key",
        b"api_key",
        b"apikey",
        b"x-goog-api-key",
        b"access_token",
        b"x-amz-signature",
        b"x-amz-credential",
        b"x-amz-security-token",
    )
)
SECRET_HEADERS = "proxy-authorization|authorization|x-api-key|api-key|x-goog-api-key|x-amz-security-token|cookie"
SCHEMES = "bearer|basic|token|aws4-hmac-sha256"

# ASCII classes (re.A): perl, which runs the same rules in compose, reads bytes
_QUERY = re.compile(r'([?&])([^=&\s"]+)=([^&\s"]*)', re.A)
_HEADER = re.compile(
    rf"(?im)(?<![\w-])({SECRET_HEADERS})(\s*:\s*)"  # the name; the value starts at its first non-space
    rf"((?>(?:(?:{SCHEMES})\s+)?))"  # the scheme word, kept (atomic: never re-read as the value)
    rf'(?!{MASKED})([^\s"][^"\r\n]*?)(?=(?:\.\.\.)?"|\r|$)',  # up to nginx's closing quote (or "..." of a cut line)
    re.A,
)
_AFTER_WORD = re.compile(rf"""(?i)(?<![\w-])(bearer\s+|credential=|signature=)(?!{MASKED})([^\s"',;&]+)""", re.A)
_SHAPES = re.compile(
    r"(?<![\w-])("
    r"sk-[A-Za-z0-9_-]{16,}"
    r"|AIza[A-Za-z0-9_-]{16,}"
    r"|ya29\.[A-Za-z0-9_.-]{16,}"
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}"
    r"|ABSK[A-Za-z0-9+/=]{16,}"
    r"|bedrock-api-key-[A-Za-z0-9+/=_-]{16,}"
    r")",
    re.A,
)


def _mask(value: str) -> str:
    return mask_key(value) or ""


def _query_param(m: re.Match) -> str:
    sep, name, value = m.groups()
    if not value or value.startswith(MASKED) or unquote_to_bytes(name.replace("+", " ")).lower() not in SECRET_PARAMS:
        return m.group(0)
    return f"{sep}{name}={_mask(value)}"


def mask_secrets(text: str) -> str:
    """``text`` with every credential in it masked (see the module's docstring for what counts)."""
    text = _QUERY.sub(_query_param, text)
    text = _HEADER.sub(lambda m: m.group(1) + m.group(2) + m.group(3) + _mask(m.group(4)), text)
    text = _AFTER_WORD.sub(lambda m: m.group(1) + _mask(m.group(2)), text)
    return _SHAPES.sub(lambda m: _mask(m.group(1)), text)


def mask_bytes(line: bytes) -> bytes:
    """``mask_secrets`` for raw log bytes (nginx writes what the client sent; other bytes pass unchanged)."""
    return mask_secrets(line.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def copy_masked(source: BinaryIO, sink: BinaryIO) -> None:
    """Copy lines from ``source`` (e.g. nginx's stderr) to ``sink`` masked, until ``source`` ends."""
    for line in iter(source.readline, b""):
        sink.write(mask_bytes(line))
        sink.flush()


class MaskingFormatter(logging.Formatter):
    """The sidecar's log lines, tracebacks included, with credentials masked: a defence in depth, since
    lmgate logs keys only masked, but an exception's message may quote what a client sent."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))
