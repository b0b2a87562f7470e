import importlib.util
import json
import logging
from pathlib import Path

import pytest

from lmgate.pricing import SHIPPED_FILE, PriceBook, PricingError, cost_usd, parse_entries
from lmgate.usage import Usage

SHIPPED = json.loads(SHIPPED_FILE.read_text())
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def book():
    return PriceBook.load()


def _user_file(tmp_path, entries, name="prices.json"):
    path = tmp_path / name
    path.write_text(json.dumps(entries))
    return path


def test_shipped_file_is_trimmed_litellm_format():
    assert 100 < len(SHIPPED) < 500
    assert "sample_spec" not in SHIPPED
    for key, entry in SHIPPED.items():
        assert entry["mode"] in ("chat", "embedding", "responses"), key
        assert isinstance(entry["input_cost_per_token"], int | float), key
        assert set(entry) <= {
            "litellm_provider",
            "mode",
            "input_cost_per_token",
            "output_cost_per_token",
            "cache_read_input_token_cost",
            "cache_creation_input_token_cost",
            "max_input_tokens",
            "max_output_tokens",
        } | {k for k in entry if "_above_" in k}, key


def test_gpt_4o_cost_from_the_shipped_prices(book):
    p = SHIPPED["gpt-4o"]
    usage = Usage(input_tokens=12_000, output_tokens=3_456, cache_read_tokens=2_000)
    expected = (
        10_000 * p["input_cost_per_token"]
        + 2_000 * p["cache_read_input_token_cost"]
        + 3_456 * p["output_cost_per_token"]
    )
    assert cost_usd(book.price_for("openai", "gpt-4o"), usage) == round(expected, 10)


def test_anthropic_cache_reads_and_writes_at_their_rates(book):
    p = SHIPPED["claude-sonnet-4-5"]
    usage = Usage(input_tokens=5_000, output_tokens=700, cache_read_tokens=3_000, cache_write_tokens=1_500)
    expected = (
        500 * p["input_cost_per_token"]
        + 3_000 * p["cache_read_input_token_cost"]
        + 1_500 * p["cache_creation_input_token_cost"]
        + 700 * p["output_cost_per_token"]
    )
    assert cost_usd(book.price_for("anthropic", "claude-sonnet-4-5-20250929"), usage) == round(expected, 10)


def test_missing_cache_rates_fall_back_to_the_input_rate(tmp_path):
    path = _user_file(tmp_path, {"m": {"input_cost_per_token": 2e-6, "output_cost_per_token": 1e-5}})
    book = PriceBook.load(path, include_shipped=False)
    usage = Usage(input_tokens=100, output_tokens=10, cache_read_tokens=30, cache_write_tokens=20)
    assert cost_usd(book.price_for("openai", "m"), usage) == round(100 * 2e-6 + 10 * 1e-5, 10)


def test_long_context_tier_prices_the_whole_request(tmp_path):
    entry = {
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 1e-5,
        "cache_read_input_token_cost": 1e-7,
        "input_cost_per_token_above_200k_tokens": 2e-6,
        "output_cost_per_token_above_200k_tokens": 1.5e-5,
        "input_cost_per_token_above_200k_tokens_priority": 9e-6,  # service tiers are ignored
    }
    book = PriceBook.load(_user_file(tmp_path, {"gemini/g": entry | {"litellm_provider": "gemini"}}))
    price = book.price_for("gemini", "g")
    at_limit = Usage(input_tokens=200_000, output_tokens=10)
    assert cost_usd(price, at_limit) == round(200_000 * 1e-6 + 10 * 1e-5, 10)
    above = Usage(input_tokens=200_001, output_tokens=10, cache_read_tokens=1)
    # the cache-read rate has no tier of its own here, so it keeps the base rate
    assert cost_usd(price, above) == round(200_000 * 2e-6 + 1 * 1e-7 + 10 * 1.5e-5, 10)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(), None),
        (Usage(reasoning_tokens=5), None),
        (Usage(input_tokens=0, output_tokens=0), 0.0),
        (Usage(output_tokens=3), 3 * 1e-5),
        (Usage(input_tokens=10, cache_read_tokens=50), 50 * 1e-6 * 0.1),  # inconsistent counts bill no negatives
        (Usage(input_tokens=10, output_tokens=10, reasoning_tokens=8), 10 * 1e-6 + 10 * 1e-5),  # inside output
        (Usage(input_tokens=1), 1e-6),
    ],
)
def test_cost_edge_cases(tmp_path, usage, expected):
    entry = {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-5, "cache_read_input_token_cost": 1e-7}
    book = PriceBook.load(_user_file(tmp_path, {"m": entry}), include_shipped=False)
    got = cost_usd(book.price_for("openai", "m"), usage)
    assert got == (None if expected is None else round(expected, 10))


def test_cost_rounds_to_ten_decimals(tmp_path):
    book = PriceBook.load(_user_file(tmp_path, {"m": {"input_cost_per_token": 1.23456789e-11}}), include_shipped=False)
    assert cost_usd(book.price_for("openai", "m"), Usage(input_tokens=3)) == 0.0
    assert cost_usd(book.price_for("openai", "m"), Usage(input_tokens=30)) == 4e-10
    assert cost_usd(None, Usage(input_tokens=3)) is None


@pytest.mark.parametrize(
    ("kind", "model", "expected"),
    [
        ("openai", "gpt-4o", "gpt-4o"),
        ("openai", "GPT-4o", "gpt-4o"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),  # dated id not listed: its family
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "ft:gpt-4o-2024-08-06", "ft:gpt-4o-2024-08-06"),
        ("openai_compat", "openai/gpt-4o", "gpt-4o"),
        ("azure", "azure/gpt-4o-2024-05-13", "azure/gpt-4o-2024-05-13"),  # Azure's own price wins
        ("azure", "gpt-4o-2024-05-13", "azure/gpt-4o-2024-05-13"),
        ("azure", "gpt-4o", "gpt-4o"),  # Azure bills OpenAI's list price
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-5-latest", "claude-sonnet-4-5"),
        ("anthropic", "claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("gemini", "gemini-2.5-pro", "gemini/gemini-2.5-pro"),
        ("gemini", "models/gemini-2.5-pro", "gemini/gemini-2.5-pro"),
        ("gemini", "gemini/gemini-2.5-flash", "gemini/gemini-2.5-flash"),
        ("gemini", "gemini-2.5-flash-001", "gemini/gemini-2.5-flash"),
        ("vertex", "publishers/google/models/gemini-2.5-pro", "gemini/gemini-2.5-pro"),
        (
            "vertex",
            "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
            "gemini/gemini-2.5-flash",
        ),
        ("vertex", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("vertex", "vertex_ai/claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929-v1:0"),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("bedrock", "apac.anthropic.claude-sonnet-4-6", "apac.anthropic.claude-sonnet-4-6"),
        ("bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("bedrock", "bedrock/us.anthropic.claude-sonnet-4-6", "us.anthropic.claude-sonnet-4-6"),
        (
            "bedrock",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6",
            "us.anthropic.claude-sonnet-4-6",
        ),
        (
            "bedrock",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5",
        ),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ],
)
def test_resolution(book, kind, model, expected):
    assert expected in SHIPPED, "the expectation names a shipped entry"
    price = book.price_for(kind, model)
    assert price is not None and price.name == expected


def test_a_listed_dated_id_beats_its_family(tmp_path):
    prices = {
        "gpt-4o": {"input_cost_per_token": 2.5e-6, "litellm_provider": "openai"},
        "gpt-4o-2024-05-13": {"input_cost_per_token": 5e-6, "litellm_provider": "openai"},
        "gemini/gemini-2.0-flash": {"input_cost_per_token": 1e-7, "litellm_provider": "gemini"},
    }
    book = PriceBook.load(_user_file(tmp_path, prices), include_shipped=False)
    assert book.price_for("openai", "gpt-4o-2024-05-13").input == 5e-6
    assert book.price_for("openai", "gpt-4o-2024-08-06").input == 2.5e-6
    assert book.price_for("gemini", "gemini-2.0-flash-001").name == "gemini/gemini-2.0-flash"
    assert book.price_for("vertex", "publishers/google/models/gemini-2.0-flash").name == "gemini/gemini-2.0-flash"


def test_provider_kinds_do_not_borrow_unrelated_prices(book):
    assert book.price_for("anthropic", "gpt-4o") is None
    assert book.price_for("openai", "claude-sonnet-4-5") is None


def test_unknown_model_is_counted_and_logged_once(caplog):
    book = PriceBook.load()
    with caplog.at_level(logging.WARNING, logger="lmgate.pricing"):
        for _ in range(3):
            assert book.price_for("openai", "no-such-model") is None
        assert book.price_for("openai", None) is None
        assert book.price_for("openai", "") is None
    assert book.unknown_models == {("openai", "no-such-model"): 3}
    assert [r.getMessage() for r in caplog.records].count(
        "no price for model 'no-such-model' (provider kind openai): its cost is left empty"
    ) == 1
    assert len(caplog.records) == 1


def test_unknown_models_are_bounded(monkeypatch):
    monkeypatch.setattr("lmgate.pricing.MAX_UNKNOWN", 2)
    book = PriceBook.load()
    for name in ("a-1", "a-2", "a-3", "a-4"):
        book.price_for("openai", name)
    assert book.unknown_models == {("openai", "a-1"): 1, ("openai", "a-2"): 1, ("openai", "(other)"): 2}


def test_lookups_are_cached(book):
    book.price_for("openai", "gpt-4o-2024-11-20")
    hits = book._resolve.cache_info().hits
    book.price_for("openai", "gpt-4o-2024-11-20")
    assert book._resolve.cache_info().hits == hits + 1


def test_user_file_merges_over_the_shipped_prices(tmp_path):
    path = _user_file(
        tmp_path,
        {
            "gpt-4o": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "litellm_provider": "openai"},
            "my-local-model": {"input_cost_per_token": 1e-9, "output_cost_per_token": 1e-9},  # no provider: any kind
            "groq/llama-x": {"input_cost_per_token": 5e-7, "litellm_provider": "groq"},
            "dall-e-9": {"input_cost_per_image": 0.04, "litellm_provider": "openai", "mode": "image_generation"},
            "sample_spec": {"input_cost_per_token": "a string LiteLLM documents", "litellm_provider": "..."},
        },
    )
    book = PriceBook.load(path)
    assert book.price_for("openai", "gpt-4o").input == 1e-6
    assert book.price_for("anthropic", "claude-sonnet-4-5") is not None, "shipped prices stay"
    assert book.price_for("openai_compat", "my-local-model").input == 1e-9
    assert book.price_for("bedrock", "my-local-model").input == 1e-9
    assert book.price_for("openai_compat", "llama-x").input == 5e-7
    assert book.price_for("openai", "llama-x") is None
    assert book.price_for("openai", "dall-e-9") is None, "not priced per token"
    assert PriceBook.load(path, include_shipped=False).price_for("anthropic", "claude-sonnet-4-5") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"m": 3}', "entry 'm': expected an object, got int"),
        ('{"m": {"input_cost_per_token": "0.1"}}', "entry 'm': input_cost_per_token must be a non-negative number"),
        ('{"m": {"output_cost_per_token": -1}}', "entry 'm': output_cost_per_token must be a non-negative number"),
        ('{"m": {"input_cost_per_token": true}}', "entry 'm': input_cost_per_token must be a non-negative number"),
        ('{"m": {"input_cost_per_token": 1e-6, "litellm_provider": 7}}', "entry 'm': litellm_provider must be"),
        (
            '{"m": {"input_cost_per_token": 1e-6, "cache_read_input_token_cost_above_200k_tokens": "x"}}',
            "entry 'm': cache_read_input_token_cost_above_200k_tokens must be",
        ),
    ],
)
def test_bad_price_files_name_the_file_and_entry(tmp_path, content, message):
    path = tmp_path / "mine.json"
    path.write_text(content)
    with pytest.raises(PricingError) as err:
        PriceBook.load(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_missing_price_file(tmp_path):
    with pytest.raises(PricingError, match="cannot read price file"):
        PriceBook.load(tmp_path / "nope.json")


def _update_prices_module():
    spec = importlib.util.spec_from_file_location("update_prices", ROOT / "scripts" / "update_prices.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _litellm(provider, inp, out=None, mode="chat", **extra):
    entry = {"litellm_provider": provider, "mode": mode, "max_tokens": 8192, "supports_vision": True}
    return entry | {"input_cost_per_token": inp, "output_cost_per_token": out} | extra


def test_update_script_keeps_current_token_models_and_drops_what_resolution_covers():
    script = _update_prices_module()
    raw = {
        "sample_spec": _litellm("openai", 0.0),
        "gpt-4o": _litellm("openai", 2.5e-6, 1e-5),
        "gpt-4o-2024-08-06": _litellm("openai", 2.5e-6, 1e-5),  # what gpt-4o resolves to anyway
        "gpt-4o-2024-05-13": _litellm("openai", 5e-6, 1.5e-5),
        "gpt-old": _litellm("openai", 1e-6, 1e-6, deprecation_date="2020-01-01"),
        "azure/gpt-4o": _litellm("azure", 2.5e-6, 1e-5),  # the OpenAI fallback gives the same
        "azure/eu/gpt-4o": _litellm("azure", 2.75e-6, 1.1e-5),  # a deployment zone: not in a request
        "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_pixel": 1e-8},
        "groq/llama": _litellm("groq", 1e-7, 1e-7),
    }
    kept = script.prune(script.select(raw, "2026-11-24"))
    assert list(kept) == ["gpt-4o", "gpt-4o-2024-05-13"]
    assert kept["gpt-4o"] == {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 2.5e-6,
        "output_cost_per_token": 1e-5,
    }


def test_context_sizes_are_read_and_kept_by_the_update_script():
    script = _update_prices_module()
    raw = {
        "gpt-4o": _litellm("openai", 2.5e-6, 1e-5, max_input_tokens=128_000, max_output_tokens=16_384),
        "gpt-4o-2024-08-06": _litellm("openai", 2.5e-6, 1e-5, max_input_tokens=128_000, max_output_tokens=16_384),
        "gpt-4o-2024-11-20": _litellm("openai", 2.5e-6, 1e-5, max_input_tokens=128_000, max_output_tokens=32_768),
    }
    kept = script.prune(script.select(raw, "2026-11-24"))
    assert list(kept) == ["gpt-4o", "gpt-4o-2024-11-20"]  # same prices, other context: kept
    assert kept["gpt-4o"]["max_input_tokens"] == 128_000 and "max_tokens" not in kept["gpt-4o"]
    price = PriceBook(parse_entries(kept, "test")).price_for("openai", "gpt-4o-2024-11-20")
    assert (price.max_input_tokens, price.max_output_tokens) == (128_000, 32_768)
    assert PriceBook.load().price_for("openai", "gpt-4o").max_input_tokens == 128_000  # the shipped file has them
    with pytest.raises(PricingError, match="max_input_tokens must be a non-negative integer"):
        parse_entries({"m": _litellm("openai", 1e-6, 1e-6, max_input_tokens="lots")}, "test")
