"""How much a request holds against its budgets from /auth to its stats line (``budget_mode: reserve``).

The most it can cost: its prompt tokens (counted offline, ``tokens.py``) at the
model's input rate, or its cache-write rate when that is higher (a prompt that
writes the cache is billed so), plus the output tokens it allows the model
(``Provider.max_output_tokens``: ``max_tokens`` and the like, times the choices
asked for, capped by the model's limit) at the output rate, long-context tiers
included (``pricing.cost_usd``). A request that states no cap holds the model's
``max_output_tokens`` from the price list, and ``FALLBACK_OUTPUT_TOKENS`` when
the price list knows none. A model without a price holds nothing: its cost is
unknown, and its stats line adds no spend either.

The prompt count is of the text the model reads (``Provider.prompt_fields``):
images, tool definitions and chat framing are not in it, so a request whose
real input is mostly those can settle above its hold by that much input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmgate.pricing import ModelPrice, tokens_cost_usd

if TYPE_CHECKING:  # a provider is passed in: policies judge facts, they import no provider
    from lmgate.providers.base import Provider

# Output tokens held for a request that states no cap, on a model the price list gives no output limit:
# the OpenAI and Anthropic defaults of their SDKs' examples; such models are rare in the shipped prices.
FALLBACK_OUTPUT_TOKENS = 4096


def reservation_usd(api: Provider, path: str, body: dict | None, price: ModelPrice | None, prompt_tokens: int) -> float:
    """USD to hold for one request: the most its usage can cost at ``price``."""
    if price is None:
        return 0.0
    limit = price.max_output_tokens or FALLBACK_OUTPUT_TOKENS
    output = api.max_output_tokens(path, body, limit) if body is not None else limit
    writes = price.cache_write is not None and price.cache_write > price.input
    return tokens_cost_usd(price, prompt_tokens, output, 0, prompt_tokens if writes else 0)
