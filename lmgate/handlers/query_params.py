"""The checks every read of the gateway's own API makes of its query string."""

from __future__ import annotations

from aiohttp import web

from lmgate.usage_report import QueryError


def checked_params(
    request: web.Request,
    known: tuple[str, ...],
    admin_only: tuple[str, ...],
    is_admin: bool,
    what: str,
    empty: str | None = None,
) -> dict[str, str]:
    """The query's parameters, each known and given once (and not empty, with ``empty`` the message),
    ``admin_only`` ones from the admin alone (``what``: the data they choose, for the message);
    QueryError names the first that is not."""
    q = request.query
    for name in q:
        if name not in known:
            raise QueryError(name[:64], f"unknown parameter; known: {', '.join(known)}")
        if len(q.getall(name)) > 1:
            raise QueryError(name, "given more than once")
        if empty is not None and not q[name]:
            raise QueryError(name, empty)
    for name in admin_only:
        if name in q and not is_admin:
            raise QueryError(name, f"only the admin token may choose whose {what} to see; a key sees its own")
    return dict(q)
