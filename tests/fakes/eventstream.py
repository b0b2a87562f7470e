"""An AWS event-stream *encoder*, for the fakes and tests only (botocore only decodes).

A message is ``[total length][headers length][prelude CRC][headers][payload][message CRC]``,
big-endian uint32s, CRC32 over everything before it. Headers are
``[name length: u8][name][type: u8][value]``; string values (type 7) are
``[length: u16][utf-8]``.
"""

from __future__ import annotations

import base64
import struct
import zlib

import orjson

_STRING = 7


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    raw_headers = b"".join(_header(name, value) for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(raw_headers) + len(payload) + 4, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack(">B", len(n)) + n + struct.pack(">BH", _STRING, len(v)) + v


def event(event_type: str, doc: dict) -> bytes:
    """One ``:message-type: event`` message with a JSON payload, as Bedrock sends them."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, orjson.dumps(doc))


def exception(exception_type: str, message: str) -> bytes:
    """A modelled error in the middle of a stream (e.g. ``throttlingException``)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, orjson.dumps({"message": message}))


def chunk(native: dict, pad: str = "") -> bytes:
    """An InvokeModelWithResponseStream ``chunk``: base64 of the model's own JSON event."""
    doc = {"bytes": base64.b64encode(orjson.dumps(native)).decode()}
    if pad:
        doc["p"] = pad
    return event("chunk", doc)
