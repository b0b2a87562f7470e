"""The model catalogue: the priced models a key may use, with prices per million tokens and context sizes.

A key's ``models`` globs (and its owner's) are matched against each LiteLLM id in
the price list, and against the id without its ``provider/`` prefix
(``azure/gpt-4o`` is offered as ``gpt-4o``, the name a request uses). What a
request may name is wider than this list (any name the globs match); the list is
what the gateway can price.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmgate.policies.limits import Limits
from lmgate.pricing import ModelPrice, PriceBook

PER_MILLION = 1_000_000


def allowed_models(prices: PriceBook, rules: Sequence[Limits]) -> list[dict[str, Any]]:
    """Every priced model each of ``rules`` allows (no rules, or rules without ``models``: all), by id."""
    out = []
    for model_id, price in sorted(prices.models().items()):
        names = (model_id, model_id.rsplit("/", 1)[-1])
        if all(any(rule.allows_model(n) for n in names) for rule in rules):
            out.append(model_card(model_id, price))
    return out


def model_card(model_id: str, price: ModelPrice) -> dict[str, Any]:
    """One model in the shape of OpenAI's model list (``id``, ``object``, ``owned_by``) plus prices in USD per
    million tokens (cache rates of null cost the input rate) and the context sizes."""
    return {
        "id": model_id,
        "object": "model",
        "owned_by": price.provider,
        "mode": price.mode,
        "input_per_mtok": _per_million(price.input),
        "output_per_mtok": _per_million(price.output),
        "cache_read_per_mtok": _per_million(price.cache_read),
        "cache_write_per_mtok": _per_million(price.cache_write),
        "max_input_tokens": price.max_input_tokens,
        "max_output_tokens": price.max_output_tokens,
        "tiers": [
            {
                "above_tokens": t.above_tokens,
                "input_per_mtok": _per_million(t.input),
                "output_per_mtok": _per_million(t.output),
                "cache_read_per_mtok": _per_million(t.cache_read),
                "cache_write_per_mtok": _per_million(t.cache_write),
            }
            for t in price.tiers
        ],
    }


def _per_million(rate: float | None) -> float | None:
    return None if rate is None else round(rate * PER_MILLION, 6)  # 2.5e-06 * 1e6 is 2.4999999999999996
