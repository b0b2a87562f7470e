"""OpenAI's usage (also Azure's and compatible servers'): cache reads and writes as the SDK's types name them."""

from __future__ import annotations

import pytest

from lmgate.pricing import PriceBook
from lmgate.providers.azure import PROVIDER as AZURE
from lmgate.providers.openai import PROVIDER as OPENAI
from lmgate.providers.openai_compat import PROVIDER as COMPAT
from lmgate.usage import Usage

CHAT_USAGE = {
    "prompt_tokens": 2000,
    "completion_tokens": 50,
    "total_tokens": 2050,
    "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 640, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 20},
}
RESPONSES_USAGE = {
    "input_tokens": 2000,
    "input_tokens_details": {
        "cached_tokens": 1024,
        "cache_write_tokens": 640,
        "cache_write_tokens_details": {"ttl_30m_tokens": 640, "ttl_12h_tokens": 0},
    },
    "output_tokens": 50,
    "output_tokens_details": {"reasoning_tokens": 20},
    "total_tokens": 2050,
}
EXPECTED = Usage(2000, 50, 1024, 640, 20, "gpt-5.6", "provider")


@pytest.mark.parametrize("provider", [OPENAI, AZURE, COMPAT])
def test_chat_and_responses_json_count_cache_writes(provider):
    chat = {"object": "chat.completion", "model": "gpt-5.6", "choices": [], "usage": CHAT_USAGE}
    assert provider.usage_from_json(chat) == EXPECTED
    response = {"object": "response", "model": "gpt-5.6", "output": [], "usage": RESPONSES_USAGE}
    assert provider.usage_from_json(response) == EXPECTED


def test_streams_count_cache_writes():
    chat = [
        {"object": "chat.completion.chunk", "model": "gpt-5.6", "choices": [{"delta": {"content": "x"}}]},
        {"object": "chat.completion.chunk", "model": "gpt-5.6", "choices": [], "usage": CHAT_USAGE},
    ]
    assert OPENAI.usage_from_events(chat) == EXPECTED
    responses = [
        {"type": "response.created", "response": {"model": "gpt-5.6", "usage": None}},
        {"type": "response.completed", "response": {"model": "gpt-5.6", "usage": RESPONSES_USAGE}},
    ]
    assert OPENAI.usage_from_events(responses) == EXPECTED


def test_without_cache_details_the_counts_stay_unknown():
    usage = OPENAI.usage_from_json({"model": "m", "usage": {"prompt_tokens": 5, "completion_tokens": 1}})
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (None, None)


def test_cache_writes_are_priced_at_their_rate_where_the_price_list_has_one():
    book = PriceBook.load()
    price = book.price_for("openai", "gpt-5.6")
    assert price is not None and price.cache_write is not None
    fresh = 2000 - 1024 - 640
    expected = fresh * price.input + 1024 * price.cache_read + 640 * price.cache_write + 50 * price.output
    assert book.cost("openai", None, EXPECTED) == pytest.approx(expected)
    assert book.cost("azure", None, EXPECTED) == pytest.approx(expected)  # Azure bills OpenAI's list prices
