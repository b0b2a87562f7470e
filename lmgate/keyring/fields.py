"""The allow-list fields an operator sets through ``lmgate keys`` or the admin API, each checked on its own.

A value comes from JSON (strings, numbers, booleans, a list of model patterns,
null) or from the command line (strings); it becomes the cell text the file
will hold, or a ``FieldError`` naming the field. Checks are the gateway's own
(``policies.limits``, ``dlp.settings``, ``credentials``, ``expiry``), so a value
accepted here is one the allow-list parser accepts.
"""

from __future__ import annotations

import re

from lmgate.credentials import parse_ref
from lmgate.dlp.settings import parse_mode
from lmgate.expiry import expires_cell
from lmgate.policies.limits import parse_key_limits
from lmgate.policies.registry import key_columns
from lmgate.policies.settings import SETTINGS, positive_int, positive_usd

#: id of a new key: a label value, a URL path segment and a first CSV cell (never a comment) as it is
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$", re.ASCII)
MAX_CELL = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COLUMN_ERROR = re.compile(r"^column (\w+): (.*)$", re.DOTALL)


def editable() -> tuple[str, ...]:
    """What PATCH and ``lmgate keys update`` may change; create also takes ``id``.

    Read when asked, never at import: the config's ``policies.extra`` adds its policies' columns when it is
    loaded, after this module is imported, and those columns are set like lmgate's own."""
    return ("owner", *key_columns(), "dlp", "expires", "disabled", "upstream_key")


class FieldError(ValueError):
    """A bad value of one field; ``field`` names it, ``str()`` is ``field: message``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_id(value: object) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        shown = repr(value)[:80]
        raise FieldError(
            "id", f"{shown} is not a key id: 1 to 128 letters, digits and . _ @ + -, starting with a letter or digit"
        )
    return value


def check_fields(values: dict[str, object], now: float) -> dict[str, str]:
    """``{field: cell text}`` for ``values``; the first unknown or bad field raises ``FieldError``."""
    allowed = editable()
    for name in values:
        if name not in allowed:
            raise FieldError(str(name)[:64], f"unknown field; known: {', '.join(allowed)}")
    return {name: cell(name, value, now) for name, value in values.items()}


def cell(name: str, value: object, now: float) -> str:
    """The cell text for one field's value; ``""`` (from null or an empty string) clears the cell."""
    text = _text(name, value)
    if _CONTROL.search(text) or len(text) > MAX_CELL:
        raise FieldError(name, f"control characters or more than {MAX_CELL} characters")
    if name == "owner":
        if not text:
            raise FieldError(name, "every key has an owner; it cannot be empty")
        return text
    if not text:
        return ""
    try:
        return _checked(name, text, now)
    except ValueError as e:
        raise FieldError(name, str(e).removeprefix(f"column {name}: ")) from None


def _text(name: str, value: object) -> str:
    if value is None:
        return ""
    if name == "disabled" and isinstance(value, bool):
        return "true" if value else ""
    if name == "models" and isinstance(value, list):
        if not all(isinstance(p, str) and ";" not in p for p in value):
            raise FieldError(name, "a list of model patterns (strings without ';')")
        return ";".join(p.strip() for p in value)
    if isinstance(value, str):
        return value.strip()
    numeric = name in SETTINGS and SETTINGS[name].parse in (positive_int, positive_usd)
    if numeric and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    kind = "a number" if numeric else "true or false" if name == "disabled" else "a string"
    raise FieldError(name, f"must be {kind}, got {type(value).__name__}")


def _checked(name: str, text: str, now: float) -> str:
    """The normal form of a non-empty cell, or ValueError."""
    if name == "models":  # its normal form: patterns trimmed
        return ";".join(SETTINGS[name].parse(text))  # type: ignore[arg-type]
    if name == "budget_period":
        return str(SETTINGS[name].parse(text))
    if name in SETTINGS and SETTINGS[name].key:  # lmgate's or a policy's from policies.extra: its own parser
        parse_key_limits({name: text})
        return text
    if name == "dlp":
        return parse_mode(text)
    if name == "expires":
        return expires_cell(text, now)
    if name == "disabled":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{text!r} is not true or false")
        return "true" if text.lower() == "true" else ""
    if name == "upstream_key":
        return str(parse_ref(text))
    raise ValueError("not an editable field")


def check_row(cells: dict[str, str]) -> None:
    """Rules across a row's fields (a budget period needs a budget ...); FieldError names the field."""
    try:
        parse_key_limits(cells)
    except ValueError as e:
        m = _COLUMN_ERROR.match(str(e))
        raise (FieldError(m[1], m[2]) if m else FieldError("limits", str(e))) from None
    if cells.get("upstream_key") and cells.get("client_secret"):
        raise FieldError("upstream_key", "a SigV4 access key (one with client_secret) takes no upstream_key")
