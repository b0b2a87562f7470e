"""What a key or an owner may do: the parsed, precomputed form of its limit settings.

Keys get theirs from optional allow-list columns (``parse_key_limits``), owners
from the YAML config (``limits_from_owner``). Everything /auth needs per request
(the model regex, whether any counter is involved) is computed here, once.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from typing import Protocol

from lmgate.policies.periods import PERIOD_KINDS, PeriodKind

# Allow-list columns this module reads; an empty cell means "no limit".
LIMIT_COLUMNS: tuple[str, ...] = ("models", "rpm", "tpm", "budget_usd", "budget_period", "max_parallel")


@dataclass(frozen=True, slots=True)
class Limits:
    models: tuple[str, ...] = ()  # glob patterns; empty: any model
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period: PeriodKind = "month"
    max_parallel: int | None = None
    # Derived in __post_init__, not compared.
    model_re: re.Pattern[str] | None = field(init=False, compare=False, repr=False)
    stateless: bool = field(init=False, compare=False, repr=False)  # no counter to consult
    unlimited: bool = field(init=False, compare=False, repr=False)  # nothing at all to check

    def __post_init__(self) -> None:
        # One alternation of translated globs: a single C-level match per request.
        rx = re.compile("|".join(fnmatch.translate(p) for p in self.models)) if self.models else None
        stateless = self.rpm is None and self.tpm is None and self.budget_usd is None and self.max_parallel is None
        object.__setattr__(self, "model_re", rx)
        object.__setattr__(self, "stateless", stateless)
        object.__setattr__(self, "unlimited", stateless and rx is None)

    def allows_model(self, model: str) -> bool:
        return self.model_re is None or self.model_re.match(model) is not None


NO_LIMITS = Limits()


def parse_key_limits(extra: dict[str, str]) -> Limits:
    """Limits from a key's allow-list cells; raises ``ValueError("column rpm: ...")`` on a bad cell."""
    cells = {c: extra[c].strip() for c in LIMIT_COLUMNS if extra.get(c, "").strip()}
    if not cells:
        return NO_LIMITS  # shared: most keys have no limits
    models = _patterns("column models", cells["models"].split(";")) if "models" in cells else ()
    budget = _positive_float("column budget_usd", cells["budget_usd"]) if "budget_usd" in cells else None
    period = cells.get("budget_period", "month").lower()
    if period not in PERIOD_KINDS:
        raise ValueError(f"column budget_period: {cells['budget_period']!r} is not one of {', '.join(PERIOD_KINDS)}")
    if "budget_period" in cells and budget is None:
        raise ValueError("column budget_period: set without budget_usd")
    return Limits(
        models=models,
        rpm=_positive_int("column rpm", cells["rpm"]) if "rpm" in cells else None,
        tpm=_positive_int("column tpm", cells["tpm"]) if "tpm" in cells else None,
        budget_usd=budget,
        budget_period=period,  # type: ignore[arg-type]  # checked above
        max_parallel=_positive_int("column max_parallel", cells["max_parallel"]) if "max_parallel" in cells else None,
    )


class OwnerSettings(Protocol):
    """The fields of the config's ``OwnerLimits`` (kept structural so this module needs no config import)."""

    models: list[str]
    rpm: int | None
    tpm: int | None
    budget_usd: float | None
    budget_period: PeriodKind
    max_parallel: int | None


def limits_from_owner(o: OwnerSettings) -> Limits:
    """Owner limits from the (already validated) config entry."""
    return Limits(
        models=tuple(o.models),
        rpm=o.rpm,
        tpm=o.tpm,
        budget_usd=o.budget_usd,
        budget_period=o.budget_period,
        max_parallel=o.max_parallel,
    )


def check_pattern(where: str, pattern: str) -> str:
    """A model glob must be one non-empty word: a space is a typo (a missing ``;``), never a model name."""
    p = pattern.strip()
    if not p:
        raise ValueError(f"{where}: empty model pattern")
    if any(ch.isspace() for ch in p):
        raise ValueError(f"{where}: {p!r} contains a space; separate patterns with ';'")
    return p


def _patterns(where: str, raw: list[str]) -> tuple[str, ...]:
    patterns = tuple(check_pattern(where, p) for p in raw if p.strip())
    if not patterns:
        raise ValueError(f"{where}: no model pattern between the ';'")
    return patterns


def _positive_int(where: str, cell: str) -> int:
    if not (cell.isascii() and cell.isdigit()) or int(cell) == 0:
        raise ValueError(f"{where}: {cell!r} is not a positive integer")
    return int(cell)


def _positive_float(where: str, cell: str) -> float:
    try:
        v = float(cell)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{where}: {cell!r} is not a positive number of US dollars (e.g. 25 or 12.50)")
    return v
