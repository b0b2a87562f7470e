"""What /auth hands nginx to carry, unread, to the stats line: one opaque header value.

njs copies it from the auth reply into a variable and nginx sends it back with
the stats spool, so the sidecar needs no per-request state between the two.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from lmgate.clip import clip
from lmgate.keys import printable

CTX_HEADER = "X-Lmgate-Ctx"
# The client's text in the handoff is cut to these (characters) by ``client_text``: the handoff is a header
# of the /auth answer, read into a buffer of fixed size (nginx_conf.py AUTH_REPLY_BUFFER), and its fields
# land on the stats line.
MAX_MODEL = 256
MAX_ENDPOINT = 512
MAX_ENCODED = 8 * 1024  # the encoded handoff at most, whatever the client sent (tests/unit/test_handoff.py)


@dataclass(slots=True)
class Handoff:
    key_id: str | None = None
    owner: str | None = None
    masked_key: str | None = None
    model: str | None = None
    stream: bool = False
    endpoint: str = ""
    lease: str | None = None  # the policy engine's lease: the stats line reports usage and frees it
    prompt_estimate: int | None = None  # tokens of the prompt, when the answer will not report usage
    dlp: dict | None = None  # DLP mode, action, findings (types and counts), for the stats line

    def encode(self) -> str:
        """One ASCII header value: base64 of a JSON array (both in C; urlencode was 14% of the sidecar)."""
        fields = [
            self.key_id,
            self.owner,
            self.masked_key,
            self.model,
            self.stream,
            self.endpoint,
            self.lease,
            self.prompt_estimate,
            self.dlp,
        ]
        return base64.b64encode(orjson.dumps(fields)).decode()

    @classmethod
    def decode(cls, value: str) -> Handoff:
        """The handoff of ``value``; an empty or damaged one gives an empty handoff (the line is still written)."""
        try:
            fields = orjson.loads(binascii.a2b_base64(value, strict_mode=True))
            key_id, owner, masked, model, stream, endpoint, lease, estimate, dlp = fields
        except (ValueError, TypeError, binascii.Error):
            return cls()
        # Positional, checks inline: keyword arguments and a helper call per field were most of this per line.
        return cls(
            key_id if isinstance(key_id, str) else None,
            owner if isinstance(owner, str) else None,
            masked if isinstance(masked, str) else None,
            model if isinstance(model, str) else None,
            stream is True,
            endpoint if isinstance(endpoint, str) else "",
            lease if isinstance(lease, str) else None,
            estimate if type(estimate) is int else None,  # type(): a bool is no estimate
            dlp if isinstance(dlp, dict) else None,
        )


def client_text(text: str, limit: int) -> str:
    """The client's ``text`` for a handoff field: cut to ``limit``, raw bytes that are no UTF-8 (a path may
    carry any, and JSON cannot) as U+FFFD."""
    return clip(printable(text), limit)
