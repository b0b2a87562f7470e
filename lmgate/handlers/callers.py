"""Who calls the gateway's own API: the admin token (``api.admin_token``) or an allow-listed key."""

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
    admin: bool
    entry: KeyEntry | None  # the caller's key when not the admin


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


def caller(request: web.Request) -> Caller | web.Response:
    """The admin, or a key that may be used now (not expired, not disabled); else the error to answer."""
    gw = request.app[GATEWAY]
    key = extract_key(request.headers, request.query_string, KEY_SOURCES)
    if key is None:
        return json_error(401, "lmgate: send your API key (or the admin token) as Authorization: Bearer")
    admin = gw.config.api.admin_token
    if admin is not None and hmac.compare_digest(key.encode(), admin.encode()):
        return Caller(admin=True, entry=None)
    entry = gw.allowlist.current.lookup(key)
    if entry is None:
        return json_error(401, "lmgate: this key is not on the gateway's allow-list")
    try:
        check_usable(entry, key, time.time())
    except GateError as e:
        return json_error(e.status, e.message)
    return Caller(admin=False, entry=entry)
