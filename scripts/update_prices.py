#!/usr/bin/env python3
"""Regenerate lmgate/data/model_prices.json from LiteLLM's price file.

    .venv/bin/pip download litellm==1.109.1 --no-deps -d litellm-wheel
    unzip -o litellm-wheel/litellm-*.whl litellm/model_prices_and_context_window_backup.json -d litellm-wheel
    .venv/bin/python scripts/update_prices.py litellm-wheel/litellm/model_prices_and_context_window_backup.json

The shipped file was made from litellm 1.109.1 with --as-of 2026-11-24.

Kept: chat, embedding and responses entries of the providers lmgate serves,
priced per token, not past their deprecation date, without region- or
commitment-scoped ids (``bedrock/us-east-1/...``, ``azure/eu/...``: a request
does not tell us those). Kept fields: litellm_provider, mode, the token cost
fields (with their ``_above_<N>k_tokens`` tiers) and the context sizes
(``max_input_tokens``, ``max_output_tokens``). Last, an entry is dropped when
lmgate's own resolution (family, fallback table) gives the same prices and context without
it, e.g. ``gpt-4o-2024-08-06`` -> ``gpt-4o`` or ``azure/gpt-4o`` -> ``gpt-4o``;
the script checks that every selected id still resolves to its LiteLLM prices.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

import orjson

from lmgate.pricing import BASE_FIELDS, SHIPPED_FILE, TIER_FIELD, ModelPrice, PriceBook, parse_entries

PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertex_ai": "vertex",
    "vertex_ai-language-models": "vertex",
    "vertex_ai-anthropic_models": "vertex",
    "vertex_ai-embedding-models": "vertex",
    "azure": "azure",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
}
MODES = {"chat", "embedding", "responses"}
CONTEXT_FIELDS = ("max_input_tokens", "max_output_tokens")  # the catalogue's context sizes (/lmgate/v1/models)


def select(raw: dict, as_of: str) -> dict[str, dict]:
    out = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict) or entry.get("litellm_provider") not in PROVIDERS:
            continue
        if entry.get("mode") not in MODES or not isinstance(entry.get("input_cost_per_token"), int | float):
            continue
        if (entry.get("deprecation_date") or "9999") < as_of or key.count("/") > 1:
            continue
        fields = {"litellm_provider", "mode", *BASE_FIELDS, *CONTEXT_FIELDS}
        out[key] = {k: v for k, v in entry.items() if (k in fields or TIER_FIELD.match(k)) and v is not None}
    return out


def same(a: ModelPrice | None, b: ModelPrice | None) -> bool:
    rates = ("input", "output", "cache_read", "cache_write", "tiers", *CONTEXT_FIELDS)
    return a is not None and b is not None and all(getattr(a, f) == getattr(b, f) for f in rates)


def prune(selected: dict[str, dict]) -> dict[str, dict]:
    prices = parse_entries(selected, "selection")
    kept = dict(prices)
    # Longest ids first: dated and prefixed ids go before the families they fall back to.
    for key in sorted(prices, key=lambda k: (-len(k), k)):
        trial = {k: v for k, v in kept.items() if k != key}
        kind = PROVIDERS[prices[key].provider or ""]
        if same(PriceBook(trial).price_for(kind, key), prices[key]):
            kept = trial
    book = PriceBook(kept)
    wrong = [k for k, p in prices.items() if not same(book.price_for(PROVIDERS[p.provider or ""], k), p)]
    if wrong:
        sys.exit(f"pruning changed the prices of: {', '.join(wrong)}")
    return {k: selected[k] for k in sorted(kept, key=lambda k: (selected[k]["litellm_provider"], k))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("litellm_json", type=Path, help="LiteLLM's model_prices_and_context_window(_backup).json")
    ap.add_argument("--out", type=Path, default=SHIPPED_FILE)
    ap.add_argument("--as-of", default=dt.datetime.now(dt.UTC).date().isoformat(), help="drop models deprecated before")
    args = ap.parse_args()
    logging.getLogger("lmgate.pricing").setLevel(logging.ERROR)  # trial lookups miss by design
    selected = select(orjson.loads(args.litellm_json.read_bytes()), args.as_of)
    kept = prune(selected)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(kept, option=orjson.OPT_INDENT_2) + b"\n")
    counts: dict[str, int] = {}
    for entry in kept.values():
        counts[PROVIDERS[entry["litellm_provider"]]] = counts.get(PROVIDERS[entry["litellm_provider"]], 0) + 1
    print(f"{len(selected)} entries selected, {len(kept)} written to {args.out.name}: {counts}")


if __name__ == "__main__":
    main()
