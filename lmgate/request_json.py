"""A request body as the gateway judges it: one JSON object, every key once.

JSON parsers disagree on an object that repeats a key (most keep the last copy,
some the first, some refuse). Model rules, DLP and accounting read the body the
sidecar parsed, while the provider acts on its own parse of the same bytes; a
repeated ``"model"`` or ``"messages"`` would let the two differ. So a body with
a repeated key anywhere is refused (no SDK sends one). jiter finds repeats while
it parses, at about orjson's speed.
"""

from __future__ import annotations

import jiter

# jiter's message for a repeated key (pinned version; tests/unit/test_request_json.py checks it)
_DUPLICATE = "Detected duplicate key"
_MAX_MESSAGE = 200  # a key can be as long as the client likes; the refusal need not echo it all


class AmbiguousJson(ValueError):
    """The body is JSON whose meaning depends on the parser: an object repeats a key."""


def parse_object(body: bytes) -> dict | None:
    """The body's JSON object; None if the body is not a JSON object; AmbiguousJson if a key repeats.

    Not JSON (or nested deeper than jiter's 254 levels) gives None: the gateway
    cannot read such a body, and its rules treat it so (a model rule refuses, DLP
    applies its unscanned verdict).
    """
    if not body or body.lstrip()[:1] != b"{":
        return None
    try:
        doc = jiter.from_json(body, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys")
    except ValueError as err:
        message = str(err)
        if message.startswith(_DUPLICATE):
            raise AmbiguousJson(message[len("Detected ") :][:_MAX_MESSAGE]) from None
        return None
    return doc if isinstance(doc, dict) else None
