"""Formatting the report: medians and spreads over rounds, noise marks, target lines."""

from __future__ import annotations

import argparse
import statistics


class Report:
    """Prints each line as it comes and keeps them all (``--json`` saves them with the raw numbers)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)


def med(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs: list[float | None], fmt: str = "{:.2f}", width: int = 0) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-".rjust(width)
    if len(xs) == 1:
        return fmt.format(xs[0]).rjust(width)
    text = f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"
    return text.rjust(width)


def f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def target_line(out: Report, what: str, value: str, ok: bool | None) -> None:
    out(f"   {what + ' ':.<58} {value:<24} {verdict(ok)}")


def noise(x: dict, a: argparse.Namespace) -> str:
    gw, load = x.get("other_pct"), x.get("load_other_pct")
    if gw is None and load is None:
        return "-"
    return f"{f(gw, '{:.0f}')}/{f(load, '{:.0f}')}" + ("!" if is_noisy(x, a) else " ")


def is_noisy(x: dict, a: argparse.Namespace) -> bool:
    return any((x.get(k) or 0) > a.quiet_pct for k in ("other_pct", "load_other_pct"))


def completeness_pct(forwarded: int, lines: int) -> float | None:
    if forwarded <= 0:
        return None
    return (forwarded - max(0, forwarded - lines)) / forwarded * 100
