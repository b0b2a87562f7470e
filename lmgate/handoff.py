"""What /auth hands nginx to carry, unread, to /stats: one opaque header value.

njs copies it from the auth reply into a variable and nginx sends it back with
the stats post, so the sidecar needs no per-request state between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import orjson

CTX_HEADER = "X-Lmgate-Ctx"


@dataclass(slots=True)
class Handoff:
    key_id: str | None = None
    owner: str | None = None
    masked_key: str | None = None
    model: str | None = None
    stream: bool = False
    endpoint: str = ""
    lease: str | None = None  # the policy engine's lease: /stats reports usage and frees it
    prompt_estimate: int | None = None  # tokens of the prompt, when the answer will not report usage
    dlp: dict | None = None  # DLP mode, action, findings (types and counts), for the stats line

    def encode(self) -> str:
        fields = {
            "k": self.key_id or "",
            "o": self.owner or "",
            "m": self.masked_key or "",
            "model": self.model or "",
            "s": "1" if self.stream else "",
            "e": self.endpoint,
            "l": self.lease or "",
            "pe": "" if self.prompt_estimate is None else str(self.prompt_estimate),
            "d": orjson.dumps(self.dlp).decode() if self.dlp else "",
        }
        return urlencode({k: v for k, v in fields.items() if v})

    @classmethod
    def decode(cls, value: str) -> Handoff:
        d = dict(parse_qsl(value))
        return cls(
            key_id=d.get("k"),
            owner=d.get("o"),
            masked_key=d.get("m"),
            model=d.get("model"),
            stream=d.get("s") == "1",
            endpoint=d.get("e", ""),
            lease=d.get("l"),
            prompt_estimate=int(d["pe"]) if d.get("pe", "").isdigit() else None,
            dlp=_json_object(d.get("d")),
        )


def _json_object(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
