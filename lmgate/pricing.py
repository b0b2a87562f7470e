"""Model prices (LiteLLM's JSON format) and the cost of one response's usage.

The shipped table ``data/model_prices.json`` is a trimmed copy of LiteLLM's
``model_prices_and_context_window.json`` (``scripts/update_prices.py`` makes it).
A user file in the same format is merged over it, its entries winning.

Lookups run once per request, so they are cached; a model with no price gives
``None`` (never an exception), is counted in ``unknown_models`` and logged once.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson

from lmgate.providers import PROVIDERS
from lmgate.providers.base import OTHER_PRICE_TABLES
from lmgate.usage import Usage

log = logging.getLogger("lmgate.pricing")

SHIPPED_FILE = Path(__file__).parent / "data" / "model_prices.json"

# Cost fields we read; any other key of an entry is ignored.
INPUT, OUTPUT = "input_cost_per_token", "output_cost_per_token"
CACHE_READ, CACHE_WRITE = "cache_read_input_token_cost", "cache_creation_input_token_cost"
BASE_FIELDS = (INPUT, OUTPUT, CACHE_READ, CACHE_WRITE)
# Long-context tiers, e.g. ``input_cost_per_token_above_200k_tokens``: past that many
# prompt tokens the whole request is billed at the tier's rates (Gemini, GPT-5.4, Claude 1M).
TIER_FIELD = re.compile(rf"^({'|'.join(BASE_FIELDS)})_above_(\d+)k_tokens$")

# One price table per provider kind, filled by the LiteLLM providers its module names
# (``Provider.price_sources``) and read, after the entries without a provider, in the order
# its ``price_fallbacks`` give (Azure bills OpenAI's list prices, ...).
ANY = ""  # entries without litellm_provider (user files) apply to every kind
OTHERS = "other:"  # + a LiteLLM provider no kind claims: read by kinds with OTHER_PRICE_TABLES

# Reductions from a specific id to its family, tried breadth-first (fewest first).
_REDUCTIONS = (
    re.compile(r"@[^@/]*$"),  # Vertex Claude: claude-sonnet-4-5@20250929
    re.compile(r"-v\d+(?::\d+)?$|:\d+$"),  # Bedrock version: ...-v2:0
    re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|latest)$"),  # gpt-4o-2024-08-06, gemini-2.0-flash-001
    re.compile(r"^(?:us|us-gov|eu|apac|au|jp|ca|in|global)\."),  # Bedrock inference-profile geography
    re.compile(r"^anthropic\."),  # Bedrock vendor, to reach Anthropic's own table
)
_MAX_VARIANTS = 32
MAX_UNKNOWN = 10_000  # distinct unknown models counted; past it they share one bucket


class PricingError(Exception):
    """A price file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class PriceTier:
    above_tokens: int
    input: float | None
    output: float | None
    cache_read: float | None
    cache_write: float | None


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per token of one LiteLLM entry; cache rates of None mean the input rate."""

    name: str  # the LiteLLM id that matched
    provider: str | None  # litellm_provider
    mode: str | None
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    tiers: tuple[PriceTier, ...] = ()  # ascending by above_tokens
    max_input_tokens: int | None = None  # the context window, as LiteLLM lists it
    max_output_tokens: int | None = None


def cost_usd(price: ModelPrice | None, usage: Usage) -> float | None:
    """Cost of ``usage`` in USD, rounded to 10 decimals; None without a price or any token count.

    ``usage.input_tokens`` includes cached tokens, so the uncached rest is
    input - cache_read - cache_write. Reasoning tokens are never added: OpenAI
    counts them inside completion_tokens, and the Gemini module adds
    thoughtsTokenCount into output_tokens (Gemini bills thoughts as output).
    """
    if price is None or (usage.input_tokens is None and usage.output_tokens is None):
        return None
    inp, out = usage.input_tokens or 0, usage.output_tokens or 0
    return tokens_cost_usd(price, inp, out, usage.cache_read_tokens or 0, usage.cache_write_tokens or 0)


def tokens_cost_usd(price: ModelPrice, inp: int, out: int, read: int = 0, write: int = 0) -> float:
    """``cost_usd`` of these token counts (``inp`` includes ``read`` and ``write``): the budget hold prices its
    counts with it on every /auth call, without a Usage made for them."""
    rate_in, rate_out, rate_read, rate_write = price.input, price.output, price.cache_read, price.cache_write
    for tier in price.tiers:
        if inp > tier.above_tokens:
            rate_in = tier.input if tier.input is not None else rate_in
            rate_out = tier.output if tier.output is not None else rate_out
            rate_read = tier.cache_read if tier.cache_read is not None else rate_read
            rate_write = tier.cache_write if tier.cache_write is not None else rate_write
    uncached = max(inp - read - write, 0)  # a module's inconsistent counts must not bill negative tokens
    cost = (
        uncached * rate_in
        + read * (rate_read if rate_read is not None else rate_in)
        + write * (rate_write if rate_write is not None else rate_in)
        + out * rate_out
    )
    return round(cost, 10)


class PriceBook:
    """Prices by lmgate provider kind and model id, with family and prefix resolution."""

    def __init__(self, entries: Mapping[str, ModelPrice], *, cache_size: int = 4096) -> None:
        self._entries = dict(entries)
        self._tables: dict[str, dict[str, ModelPrice]] = {}
        for key, price in entries.items():
            self._index(key, price)
        self.unknown_models: Counter[tuple[str, str]] = Counter()
        self._unknown_lock = threading.Lock()
        self._resolve = lru_cache(maxsize=cache_size)(self._lookup)

    @classmethod
    def load(cls, path: Path | None = None, *, include_shipped: bool = True) -> PriceBook:
        """The shipped prices, with ``path`` (LiteLLM format) merged over them if given."""
        entries = parse_file(SHIPPED_FILE) if include_shipped or path is None else {}
        if path is not None:
            entries.update(parse_file(path))
        return cls(entries)

    def __len__(self) -> int:
        return len({id(p) for table in self._tables.values() for p in table.values()})

    def models(self) -> dict[str, ModelPrice]:
        """Every priced model by its LiteLLM id (the model catalogue, /lmgate/v1/models)."""
        return dict(self._entries)

    def _index(self, key: str, price: ModelPrice) -> None:
        provider = price.provider or ""
        table_name = _kind_of_source(provider)
        if table_name is None:
            table_name = ANY if not provider else OTHERS + provider
        table = self._tables.setdefault(table_name, {})
        name = key.lower()
        table[name] = price  # the id itself wins over an alias from another entry
        for prefix in (*_id_prefixes(), f"{provider}/"):
            if prefix != "/" and name.startswith(prefix):
                table.setdefault(name[len(prefix) :], price)

    def price_for(self, provider_kind: str, model: str | None) -> ModelPrice | None:
        """The price of ``model`` behind a provider of ``provider_kind``, or None (counted, logged once)."""
        if not model:
            return None
        price = self._resolve(provider_kind, model)
        if price is None:
            self._note_unknown(provider_kind, model)
        return price

    def lookup(self, provider_kind: str, model: str | None) -> ModelPrice | None:
        """Like ``price_for``, but an unknown model is not counted (its stats line counts it once)."""
        return self._resolve(provider_kind, model) if model else None

    def cost(self, provider_kind: str, model: str | None, usage: Usage) -> float | None:
        """Shortcut: the price of ``model`` (or ``usage.model``) applied to ``usage``."""
        return cost_usd(self.price_for(provider_kind, model or usage.model), usage)

    def _note_unknown(self, kind: str, model: str) -> None:
        with self._unknown_lock:
            key = (kind, model)
            if key not in self.unknown_models and len(self.unknown_models) >= MAX_UNKNOWN:
                key = (kind, "(other)")  # a flood of odd names must not grow memory or the log
            first = key not in self.unknown_models
            self.unknown_models[key] += 1
        if first and key[1] != "(other)":
            log.warning("no price for model %r (provider kind %s): its cost is left empty", model, kind)

    def _tables_of(self, kind: str) -> list[dict[str, ModelPrice]]:
        out = []
        api = PROVIDERS.get(kind)
        for name in (ANY, kind, *api.price_fallbacks) if api is not None else (ANY,):
            if name == OTHER_PRICE_TABLES:
                out += [t for n, t in self._tables.items() if n.startswith(OTHERS)]
            elif name in self._tables:
                out.append(self._tables[name])
        return out

    def _lookup(self, kind: str, model: str) -> ModelPrice | None:
        tables = self._tables_of(kind)
        for name in _variants(model):
            for table in tables:
                price = table.get(name)
                if price is not None:
                    return price
        return None


def _kind_of_source(litellm_provider: str) -> str | None:
    """The provider kind whose ``price_sources`` claim a LiteLLM provider (``vertex_ai*`` matches a prefix)."""
    for api in PROVIDERS.values():
        for source in api.price_sources:
            if litellm_provider == source or (source.endswith("*") and litellm_provider.startswith(source[:-1])):
                return api.name
    return None


def _id_prefixes() -> tuple[str, ...]:
    """Prefixes LiteLLM ids (and some clients) put before a model id: every provider's ``model_id_prefixes``."""
    known = _PREFIXES.get(len(PROVIDERS))  # the registry only grows
    if known is None:
        known = _PREFIXES[len(PROVIDERS)] = tuple(p for api in PROVIDERS.values() for p in api.model_id_prefixes)
    return known


_PREFIXES: dict[int, tuple[str, ...]] = {}


def _base_names(model: str) -> Iterator[str]:
    """The id as given, then stripped of resource paths, ARNs and provider prefixes."""
    name = model.strip().lower()
    if "%" in name:
        name = unquote(name)  # Bedrock ids arrive URL-encoded in paths (%3A for ':')
    yield name
    if name.startswith("arn:"):
        name = name.rsplit("/", 1)[-1]  # ...:inference-profile/us.anthropic.claude-...
    elif "models/" in name:
        name = name.rsplit("models/", 1)[-1]  # models/x, publishers/google/models/x, projects/.../models/x
    prefixes = _id_prefixes()
    stripped = True
    while stripped:  # azure/openai/gpt-4o: each prefix in turn, whatever their order
        stripped = False
        for prefix in prefixes:
            if name.startswith(prefix):
                name, stripped = name[len(prefix) :], True
    yield name
    yield name.rsplit("/", 1)[-1]  # e.g. an OpenAI-compatible router's vendor/model


def _variants(model: str) -> list[str]:
    """Names to try, most specific first: each base name, then its families breadth-first."""
    seen: dict[str, None] = {}
    queue = [n for n in _base_names(model) if n]
    while queue and len(seen) < _MAX_VARIANTS:
        name = queue.pop(0)
        if name in seen:
            continue
        seen[name] = None
        for pattern in _REDUCTIONS:
            reduced = pattern.sub("", name, count=1)
            if reduced and reduced != name:
                queue.append(reduced)
    return list(seen)


def parse_file(path: Path) -> dict[str, ModelPrice]:
    """Read a LiteLLM-format price file; entries priced per token only (others are skipped)."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as e:
        raise PricingError(f"{path}: cannot read price file: {e.strerror or e}") from e
    except orjson.JSONDecodeError as e:
        raise PricingError(f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from e
    return parse_entries(data, str(path))


def parse_entries(data: Any, source: str) -> dict[str, ModelPrice]:
    """LiteLLM-format entries (already decoded) -> prices; ``source`` names them in errors."""
    if not isinstance(data, dict):
        raise PricingError(f"{source}: expected a JSON object of model id -> prices")
    out: dict[str, ModelPrice] = {}
    for key, entry in data.items():
        if key == "sample_spec":  # LiteLLM's documentation entry
            continue
        try:
            price = _entry(key, entry)
        except ValueError as e:
            raise PricingError(f"{source}: entry {key!r}: {e}") from None
        if price is not None:
            out[key] = price
    return out


def _entry(key: str, entry: Any) -> ModelPrice | None:
    if not isinstance(entry, dict):
        raise ValueError(f"expected an object, got {type(entry).__name__}")
    for field in ("litellm_provider", "mode"):
        if entry.get(field) is not None and not isinstance(entry[field], str):
            raise ValueError(f"{field} must be a string")
    base = {f: _rate(entry, f) for f in BASE_FIELDS}
    if base[INPUT] is None and base[OUTPUT] is None:
        return None  # priced per image, second, query...: not a token model
    tiers: dict[int, dict[str, float | None]] = {}
    for field in entry:
        m = TIER_FIELD.match(field)
        if m:
            tiers.setdefault(int(m[2]) * 1000, {})[m[1]] = _rate(entry, field)
    return ModelPrice(
        name=key,
        provider=entry.get("litellm_provider"),
        mode=entry.get("mode"),
        input=base[INPUT] or 0.0,
        output=base[OUTPUT] or 0.0,
        cache_read=base[CACHE_READ],
        cache_write=base[CACHE_WRITE],
        tiers=tuple(
            PriceTier(n, t.get(INPUT), t.get(OUTPUT), t.get(CACHE_READ), t.get(CACHE_WRITE))
            for n, t in sorted(tiers.items())
        ),
        max_input_tokens=_count(entry, "max_input_tokens"),
        max_output_tokens=_count(entry, "max_output_tokens"),
    )


def _count(entry: dict, field: str) -> int | None:
    value = entry.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
    return value


def _rate(entry: dict, field: str) -> float | None:
    value = entry.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{field} must be a non-negative number, got {value!r}")
    return float(value)
