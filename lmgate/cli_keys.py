"""``lmgate keys create|list|show|update|rotate|revoke``: argument parsing and printing over lmgate.keyring."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import orjson

from lmgate.config import Config
from lmgate.expiry import parse_duration
from lmgate.keyring import DEFAULT_GRACE, FieldError, KeyRing, KeyRingError, cli_actor, editable
from lmgate.usage_report import format_rows

log = logging.getLogger("lmgate")

#: the named flags, lmgate's own fields; any editable column (a policy's from policies.extra too) takes --set
_HELP = {
    "owner": "the team or person the key belongs to",
    "models": "allowed model globs, ';'-separated (e.g. 'gpt-4o*;claude-*')",
    "rpm": "requests per minute",
    "tpm": "tokens per minute",
    "budget_usd": "spend limit in US dollars per --budget-period",
    "budget_period": "day, month (default) or total",
    "max_parallel": "requests in flight",
    "dlp": "off, log, block or redact",
    "expires": "a date (2027-01-31: works through that day, UTC), an ISO time, or a duration from now (90d)",
    "disabled": "true: refused with 403, kept in the file; false: enabled",
    "upstream_key": "env:NAME or file:PATH of the provider key the gateway sends (a virtual key)",
}
_SET_HELP = (
    "set any editable column, e.g. a column of a policy from policies.extra (repeatable; an empty VALUE clears it)"
)
_LIST_COLUMNS = ("id", "owner", "models", "rpm", "tpm", "budget", "max_parallel", "dlp", "expires", "state", "added")


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def add_parser(sub: argparse._SubParsersAction, once: dict[str, Any]) -> None:
    keys = sub.add_parser("keys", help="create, list, update, rotate and revoke gateway keys in the allow-list")
    ks = keys.add_subparsers(dest="keys_command", required=True)
    create = ks.add_parser("create", help="a new gateway key (printed once; the file holds its sha256 hash)")
    create.add_argument("--id", required=True, help="the key's id: letters, digits and . _ @ + -", **once)
    _field_flags(create, once, required=("owner",))
    list_ = ks.add_parser("list", help="every key: limits, expiry, state (never a key or hash)")
    list_.add_argument("--format", default="table", choices=("table", "csv", "json"), **once)
    show = ks.add_parser("show", help="one key")
    show.add_argument("id")
    update = ks.add_parser("update", help="change a key's fields (an empty value clears one)")
    update.add_argument("id")
    _field_flags(update, once)
    rotate = ks.add_parser("rotate", help="a new key for the id; the old one works until the grace ends")
    rotate.add_argument("id")
    default = f"{DEFAULT_GRACE // 3600}h"
    rotate.add_argument("--grace", default=default, help=f"how long the old key keeps working ({default}; 0: not)")
    revoke = ks.add_parser("revoke", help="remove the key from the allow-list")
    revoke.add_argument("id")
    for p in (create, show, update, rotate, revoke):
        p.add_argument("--format", default="table", choices=("table", "json"), **once)


def _field_flags(parser: argparse.ArgumentParser, once: dict[str, Any], required: tuple[str, ...] = ()) -> None:
    # built before the config is read, so before policies.extra adds its columns: those go through --set
    for field in _HELP:
        if field == "disabled" and required:  # a new key starts enabled
            continue
        parser.add_argument(flag(field), dest=field, required=field in required, help=_HELP[field], **once)
    parser.add_argument("--set", action="append", default=[], metavar="COLUMN=VALUE", help=_SET_HELP)


def run(config: Config, args: argparse.Namespace) -> int:
    ring = KeyRing.from_config(config)
    actor = cli_actor()
    named = {f: getattr(args, f) for f in _HELP if getattr(args, f, None) is not None}
    command = args.keys_command
    set_values: dict[str, str] = {}
    try:
        set_values = _set_values(getattr(args, "set", []), named)
        values = named | set_values
        if command == "list":
            return _print_list(ring.list(), args.format)
        if command == "show":
            return _print(ring.show(args.id), args.format)
        if command == "create":
            view, key = ring.create(actor, args.id, values)
            return _print_key(view, key, args.format, config, f"created key {view['id']!r} for {view['owner']!r}")
        if command == "update":
            if not values:
                log.error("nothing to change: give one of %s, or --set COLUMN=VALUE", ", ".join(map(flag, _HELP)))
                return 2
            return _print(ring.update(actor, args.id, values), args.format)
        if command == "rotate":
            grace = _grace(args.grace)
            view, key = ring.rotate(actor, args.id, grace)
            until = view["previous_key_expires"]
            note = f"the old key works until {until}" if until else "the old key stopped working"
            return _print_key(view, key, args.format, config, f"rotated key {view['id']!r}: {note}")
        if command == "revoke":
            return _print(ring.revoke(actor, args.id), args.format, f"revoked key {args.id!r}")
    except FieldError as e:
        log.error("%s: %s", _named(e.field, set_values), e.message)
        return 2
    except KeyRingError as e:  # no such id, a duplicate id, a file the gateway rejects, the lock busy
        log.error("%s", e)
        return 1
    raise AssertionError(command)


def _set_values(pairs: list[str], named: dict[str, str]) -> dict[str, str]:
    """``{column: value}`` from ``--set COLUMN=VALUE``s; the columns are checked with the values (``check_fields``)."""
    out: dict[str, str] = {}
    for pair in pairs:
        column, eq, value = pair.partition("=")
        column = column.strip()
        if not eq or not column:
            raise FieldError("set", f"{pair[:80]!r} is not COLUMN=VALUE (known columns: {', '.join(editable())})")
        if column in out or column in named:
            raise FieldError("set", f"{column[:64]!r} is given twice")
        out[column] = value
    return out


def _named(field: str, set_values: dict[str, str]) -> str:
    """How the command line named the field an error is about: ``--set COLUMN``, its flag, or the field."""
    if field == "set":
        return "--set"
    if field in set_values:
        return f"--set {field}"
    return flag(field) if field in (*_HELP, "grace", "id") else field


def _grace(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise FieldError("grace", str(e)) from None


def _print_key(view: dict[str, Any], key: str, fmt: str, config: Config, headline: str) -> int:
    if fmt == "json":
        return _print({**view, "key": key}, fmt)
    interval = config.allowlist.reload_interval
    _out(
        f"{headline}\n\n    {key}\n\n"
        f"This is the only time the key is shown: the allow-list holds its sha256 hash. "
        f"The gateway accepts it within allowlist.reload_interval ({interval:g} s)."
    )
    return 0


def _print(view: dict[str, Any], fmt: str, headline: str | None = None) -> int:
    if fmt == "json":
        _out(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode())
        return 0
    width = max(len(k) for k in view)
    lines = [headline] if headline else []
    lines += [f"{k.ljust(width)}  {_cell(v)}" for k, v in view.items()]
    _out("\n".join(lines))
    return 0


def _print_list(views: list[dict[str, Any]], fmt: str) -> int:
    if fmt == "json":
        _out(orjson.dumps(views, option=orjson.OPT_INDENT_2).decode())
        return 0
    rows = [{c: _list_cell(c, v) for c in _LIST_COLUMNS} for v in views]
    _out(format_rows(rows, fmt, total=False, empty="no keys in the allow-list"))  # type: ignore[arg-type]
    return 0


def _list_cell(column: str, view: dict[str, Any]) -> Any:
    if column == "budget":
        return None if view["budget_usd"] is None else f"{view['budget_usd']:g}/{view['budget_period']}"
    if column == "state":
        if view["disabled"]:
            return "disabled"
        if view["expired"]:
            return "expired"
        return "rotating" if view["previous_key_expires"] else "active"
    if column == "expires":
        return view["expires_at"]
    if column == "models":
        return ";".join(view["models"]) if view["models"] else None
    return view[column]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ";".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
