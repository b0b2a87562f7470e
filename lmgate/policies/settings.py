"""A policy's settings, declared once: name, parser and bounds, description, and who may have it.

Each policy module lists its ``Setting``s; ``policies/registry.py`` collects
them, and everything else is derived from there: the allow-list's limit
columns (a key's cells), ``policies.owners`` in the config (an owner's values),
``Limits`` (the parsed form /auth reads) and the docs table (checked by
tests/unit/policies/test_registry.py). A parser takes a cell's text or a YAML
value and returns the value, or raises ``ValueError`` saying why (without the
setting's name: callers say where).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

#: how /auth judges a setting: by ``precheck`` (pure), by the store (counted), or not by itself (it qualifies another)
Judged = Literal["precheck", "store", "modifier"]


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    description: str
    parse: Callable[[object], object]
    judged: Judged
    default: object = None  # the value of an empty cell or an omitted setting: no limit
    key: bool = True  # an allow-list column
    owner: bool = True  # a ``policies.owners`` setting


#: every setting of the registered policies, by name (filled by ``policies/registry.py``)
SETTINGS: dict[str, Setting] = {}


def positive_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = value.strip() if isinstance(value, str) else None
    if text is None or not (text.isascii() and text.isdigit()) or int(text) == 0:
        raise ValueError(f"{value!r} is not a positive integer")
    return int(text)


def positive_usd(value: object) -> float:
    try:
        v = float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else math.nan
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{value!r} is not a positive number of US dollars (e.g. 25 or 12.50)")
    return v


def choice(*values: str) -> Callable[[object], object]:
    def parse(value: object) -> str:
        if not isinstance(value, str) or value.strip().lower() not in values:
            raise ValueError(f"{value!r} is not one of {', '.join(values)}")
        return value.strip().lower()

    return parse


def check_pattern(pattern: str) -> str:
    """A model glob must be one non-empty word: a space is a typo (a missing ``;``), never a model name."""
    p = pattern.strip()
    if not p:
        raise ValueError("empty model pattern")
    if any(ch.isspace() for ch in p):
        raise ValueError(f"{p!r} contains a space; separate patterns with ';'")
    return p


def model_patterns(value: object) -> tuple[str, ...]:
    """Glob patterns: a cell's ``;``-separated text, or a YAML list."""
    if isinstance(value, str):
        return _nonempty(tuple(check_pattern(p) for p in value.split(";") if p.strip()))
    if isinstance(value, list | tuple) and all(isinstance(p, str) for p in value):
        return tuple(check_pattern(p) for p in value)  # an empty YAML list: any model
    raise ValueError(f"{value!r} is not a list of model patterns")


def _nonempty(patterns: tuple[str, ...]) -> tuple[str, ...]:
    if not patterns:
        raise ValueError("no model pattern between the ';'")
    return patterns
