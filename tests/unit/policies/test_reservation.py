"""The amount a request holds against budgets: its output cap per provider, at the model's price."""

import pytest

from lmgate.policies.reservation import FALLBACK_OUTPUT_TOKENS, reservation_usd
from lmgate.pricing import ModelPrice, PriceBook, PriceTier
from lmgate.providers import PROVIDERS
from lmgate.tokens import count_tokens

# $1 per million input tokens, $10 per million output tokens, 1000 output tokens at most
PRICE = ModelPrice("m", None, "chat", input=1e-6, output=1e-5, max_output_tokens=1000)
LIMIT = 1000

# (provider, path, body, output tokens held): where each API's request states its cap
CASES = [
    ("openai", "/v1/chat/completions", {"max_completion_tokens": 300}, 300),
    ("openai", "/v1/chat/completions", {"max_tokens": 200}, 200),  # the older name
    ("openai", "/v1/chat/completions", {"max_completion_tokens": 300, "max_tokens": 200}, 300),
    ("openai", "/v1/chat/completions", {"max_tokens": 200, "n": 3}, 600),  # each choice may use the cap
    ("openai", "/v1/chat/completions", {"n": 2}, 2 * LIMIT),
    ("openai", "/v1/chat/completions", {}, LIMIT),  # no cap: the model's own limit
    ("openai", "/v1/chat/completions", {"max_tokens": 50_000}, LIMIT),  # the provider refuses more anyway
    ("openai", "/v1/chat/completions", {"max_tokens": "lots"}, LIMIT),  # not a count: the provider's 400
    ("openai", "/v1/responses", {"max_output_tokens": 120}, 120),
    ("openai", "/v1/completions", {"max_tokens": 100, "best_of": 4, "n": 2}, 400),
    ("azure", "/openai/deployments/d/chat/completions", {"max_completion_tokens": 70}, 70),
    ("openai_compat", "/v1/chat/completions", {"max_tokens": 90}, 90),
    ("anthropic", "/v1/messages", {"max_tokens": 256}, 256),
    ("gemini", "/v1beta/models/g:generateContent", {"generationConfig": {"maxOutputTokens": 64}}, 64),
    ("gemini", "/v1beta/models/g:generateContent", {"generation_config": {"max_output_tokens": 64}}, 64),
    (
        "gemini",
        "/v1beta/models/g:generateContent",
        {"generationConfig": {"maxOutputTokens": 64, "candidateCount": 2}},
        128,
    ),
    ("gemini", "/v1beta/models/g:generateContent", {"contents": []}, LIMIT),
    (
        "vertex",
        "/v1/projects/p/locations/l/publishers/google/models/g:generateContent",
        {"generationConfig": {"maxOutputTokens": 32}},
        32,
    ),
    ("vertex", "/v1/projects/p/locations/l/publishers/anthropic/models/c:rawPredict", {"max_tokens": 48}, 48),
    ("bedrock", "/model/m/converse", {"inferenceConfig": {"maxTokens": 80}}, 80),
    ("bedrock", "/model/m/invoke", {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 81}, 81),
    ("bedrock", "/model/m/invoke", {"schemaVersion": "messages-v1", "inferenceConfig": {"max_new_tokens": 82}}, 82),
    ("bedrock", "/model/m/invoke", {"prompt": "hi", "max_gen_len": 83}, 83),  # Llama
    ("bedrock", "/model/m/invoke", {"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 84}}, 84),
    ("bedrock", "/model/m/invoke", {"prompt": "hi", "max_tokens": 85}, 85),  # Mistral
    ("bedrock", "/model/m/invoke", {"message": "hi", "max_tokens": 86}, 86),  # Cohere
    ("bedrock", "/model/m/invoke", {"inputText": "embed me"}, LIMIT),
]


@pytest.mark.parametrize(("provider", "path", "body", "output"), CASES)
def test_output_cap_per_provider(provider, path, body, output):
    assert PROVIDERS[provider].max_output_tokens(path, body, LIMIT) == output
    assert reservation_usd(PROVIDERS[provider], path, body, PRICE, 0) == pytest.approx(output * 1e-5)


def test_prompt_tokens_at_the_input_rate_plus_output_at_the_output_rate():
    api = PROVIDERS["openai"]
    body = {"messages": [{"role": "user", "content": "Say hello to the budget."}], "max_tokens": 10}
    prompt = count_tokens("Say hello to the budget.")
    assert reservation_usd(api, "/v1/chat/completions", body, PRICE, prompt) == pytest.approx(prompt * 1e-6 + 10 * 1e-5)


def test_no_body_holds_the_model_limit():
    assert reservation_usd(PROVIDERS["openai"], "/v1/chat/completions", None, PRICE, 0) == pytest.approx(LIMIT * 1e-5)


def test_unknown_output_limit_falls_back():
    price = ModelPrice("m", None, "chat", input=0.0, output=1e-6)
    assert reservation_usd(PROVIDERS["anthropic"], "/v1/messages", {}, price, 0) == pytest.approx(
        FALLBACK_OUTPUT_TOKENS * 1e-6
    )
    assert reservation_usd(PROVIDERS["anthropic"], "/v1/messages", {"max_tokens": 10}, price, 0) == pytest.approx(1e-5)


def test_unpriced_model_holds_nothing():
    assert reservation_usd(PROVIDERS["openai"], "/v1/chat/completions", {"max_tokens": 10}, None, 500) == 0.0


def test_cache_writes_and_long_context_tiers_are_priced_as_billed():
    # a prompt that writes the cache is billed at the (higher) write rate: the hold assumes it does
    cached = ModelPrice("c", None, "chat", input=1e-6, output=0.0, cache_write=1.25e-6, max_output_tokens=10)
    assert reservation_usd(PROVIDERS["anthropic"], "/v1/messages", {"max_tokens": 1}, cached, 1000) == pytest.approx(
        1000 * 1.25e-6
    )
    tiered = ModelPrice("t", None, "chat", input=1e-6, output=1e-5, tiers=(PriceTier(200_000, 2e-6, 2e-5, None, None),))
    held = reservation_usd(PROVIDERS["gemini"], "/v1beta/models/t:generateContent", {}, tiered, 300_000)
    assert held == pytest.approx(300_000 * 2e-6 + FALLBACK_OUTPUT_TOKENS * 2e-5)


def test_the_shipped_prices_give_most_models_an_output_limit():
    book = PriceBook.load()
    price = book.lookup("anthropic", "claude-haiku-4-5")
    assert price is not None and price.max_output_tokens == 64000
    assert book.lookup("openai", "no-such-model") is None
    assert not book.unknown_models  # a lookup at /auth does not count the model: its stats line will
