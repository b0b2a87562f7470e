"""The model catalogue: a key's (and its owner's) model rules resolved against the price list."""

from __future__ import annotations

from lmgate.catalogue import allowed_models
from lmgate.policies.limits import NO_LIMITS, Limits
from lmgate.pricing import PriceBook


def test_globs_match_ids_and_ids_without_their_provider_prefix():
    book = PriceBook.load()
    ids = [m["id"] for m in allowed_models(book, [Limits(models=("gpt-4o*",))])]
    assert "gpt-4o" in ids and "gpt-4o-mini" in ids
    assert all(i.rsplit("/", 1)[-1].startswith("gpt-4o") for i in ids)
    assert any(i.startswith("azure/") for i in ids)  # an Azure deployment is asked for as gpt-4o
    assert ids == sorted(ids)


def test_key_and_owner_rules_both_apply_and_no_rules_mean_every_priced_model():
    book = PriceBook.load()
    everything = allowed_models(book, [NO_LIMITS, NO_LIMITS])
    assert len(everything) == len(book.models()) == len(allowed_models(book, []))
    both = allowed_models(book, [Limits(models=("gpt-4o*", "claude-*")), Limits(models=("claude-sonnet-*",))])
    assert both and all(m["id"].rsplit("/", 1)[-1].startswith("claude-sonnet-") for m in both)


def test_a_card_has_prices_per_million_tokens_and_the_context():
    (card,) = [m for m in allowed_models(PriceBook.load(), []) if m["id"] == "gpt-4o"]
    assert card == {
        "id": "gpt-4o",
        "object": "model",
        "owned_by": "openai",
        "mode": "chat",
        "input_per_mtok": 2.5,  # not 2.4999999999999996
        "output_per_mtok": 10.0,
        "cache_read_per_mtok": 1.25,
        "cache_write_per_mtok": None,  # costs the input rate
        "max_input_tokens": 128_000,
        "max_output_tokens": 16_384,
        "tiers": [],
    }
    tiered = next(m for m in allowed_models(PriceBook.load(), []) if m["tiers"])
    assert tiered["tiers"][0]["above_tokens"] > 0 and tiered["tiers"][0]["input_per_mtok"] is not None
