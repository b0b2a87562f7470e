"""Who calls the gateway's own API: the admin token (``api.admin_token``, sees everyone) or an allow-listed
key that may be used now (sees itself)."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from aiohttp import web

from lmgate.allowlist import KeyEntry
from lmgate.app_keys import GATEWAY
from lmgate.errors import GateError
from lmgate.handlers.api_errors import json_error
from lmgate.key_state import check_usable
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
    """No credential, one the gateway does not know, or a key expired or disabled; ``str()`` says which."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


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
    try:
        check_usable(entry, key, time.time())
    except GateError as e:
        raise NotAllowed(e.message, e.status) from None
    return Caller(entry)


def caller(request: web.Request) -> Caller | web.Response:
    """The caller of ``request``, or the JSON error to answer."""
    try:
        return identify(request)
    except NotAllowed as e:
        return json_error(e.status, str(e))


def admin_refusal(request: web.Request, what: str) -> web.Response | None:
    """None when the request carries ``Authorization: Bearer <admin token>``; else the 404 (no token
    configured) or 401 to answer."""
    admin = request.app[GATEWAY].config.api.admin_token
    if admin is None:
        return json_error(404, f"lmgate: {what} needs api.admin_token in the config")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), admin.encode()):
        return json_error(401, "lmgate: send the admin token as Authorization: Bearer")
    return None
