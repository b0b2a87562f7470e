"""``lmgate prices show MODEL``: the price and context size the gateway uses for a model."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import orjson

from lmgate.catalogue import model_card
from lmgate.config import Config
from lmgate.pricing import PriceBook

log = logging.getLogger("lmgate")


def add_parser(sub: argparse._SubParsersAction, once: dict[str, Any]) -> None:
    prices = sub.add_parser("prices", help="the model prices the gateway counts cost with")
    ps = prices.add_subparsers(dest="prices_command", required=True)
    show = ps.add_parser("show", help="a model's price per million tokens and context size, as the gateway finds it")
    show.add_argument("model", help="a model id as requests name it, e.g. gpt-4o-2024-08-06")
    show.add_argument("--provider", help="a configured provider (default: each one, where the prices differ)", **once)
    show.add_argument("--format", default="table", choices=("table", "json"), **once)


def run(config: Config, args: argparse.Namespace) -> int:
    if args.provider is not None and args.provider not in config.providers:
        log.error("--provider: %r is not configured; configured: %s", args.provider, ", ".join(config.providers))
        return 2
    book = PriceBook.load(config.pricing.file, include_shipped=config.pricing.include_shipped)
    logging.getLogger("lmgate.pricing").setLevel(logging.ERROR)  # a miss is this command's answer, not a warning
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}  # LiteLLM id -> its card, the providers finding it
    for name in [args.provider] if args.provider else list(config.providers):
        price = book.price_for(config.providers[name].kind, args.model)
        if price is not None:
            found.setdefault(price.name, (model_card(price.name, price), []))[1].append(name)
    if not found:
        log.error("no price for %r: its cost is left empty (pricing.file can add one)", args.model)
        return 1
    cards = [{**card, "providers": names} for card, names in found.values()]
    if args.format == "json":
        sys.stdout.write(orjson.dumps(cards, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write("\n".join(_table(args.model, card) for card in cards))
    return 0


def _table(asked: str, card: dict[str, Any]) -> str:
    def rate(value: float | None, fallback: str = "-") -> str:
        return fallback if value is None else f"{value:,.4f}".rstrip("0").rstrip(".")

    lines = [
        f"{asked} is priced as {card['id']} ({card['owned_by']}, {card['mode']}), "
        f"behind {', '.join(card['providers'])}",
        "  USD per million tokens:",
        f"    input        {rate(card['input_per_mtok'])}",
        f"    output       {rate(card['output_per_mtok'])}",
        f"    cache read   {rate(card['cache_read_per_mtok'], 'the input rate')}",
        f"    cache write  {rate(card['cache_write_per_mtok'], 'the input rate')}",
    ]
    for t in card["tiers"]:
        lines.append(
            f"    above {t['above_tokens']:,} prompt tokens: input {rate(t['input_per_mtok'])}, "
            f"output {rate(t['output_per_mtok'])}"
        )
    context = (card["max_input_tokens"], card["max_output_tokens"])
    if context != (None, None):
        lines.append("  context: " + " in, ".join("-" if c is None else f"{c:,}" for c in context) + " out")
    return "\n".join(lines) + "\n"
