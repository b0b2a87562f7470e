"""Who calls the gateway's own API: the admin token (sees everyone) or a key on the allow-list (sees itself)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from lmgate.allowlist import KeyEntry
from lmgate.app_keys import GATEWAY
from lmgate.keys import extract_key

# every place an SDK may send its key; the caller is whichever client it is
KEY_SOURCES = ("authorization", "x-api-key", "x-goog-api-key", "api-key", "?key")


@dataclass(frozen=True, slots=True)
class Caller:
    entry: KeyEntry | None  # None: the admin

    @property
    def is_admin(self) -> bool:
        return self.entry is None

    @property
    def key_id(self) -> str | None:
        """The key whose data this caller may see; None: everyone's."""
        return None if self.entry is None else self.entry.id


class NotAllowed(Exception):
    """No credential, or one the gateway does not know; the message says which."""


def identify(request: web.Request) -> Caller:
    """The caller of ``request``, or NotAllowed."""
    gw = request.app[GATEWAY]
    key = extract_key(request.headers, request.query_string, KEY_SOURCES)
    if key is None:
        raise NotAllowed("lmgate: send your API key (or the admin token) as Authorization: Bearer")
    admin = gw.config.api.admin_token
    if admin is not None and hmac.compare_digest(key.encode(), admin.encode()):
        return Caller(None)
    entry = gw.allowlist.current.lookup(key)
    if entry is None:
        raise NotAllowed("lmgate: this key is not on the gateway's allow-list")
    return Caller(entry)
