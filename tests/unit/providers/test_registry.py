"""The contract every registered provider keeps, checked for each one the registry holds.

A provider is one module plus one registry line (lmgate/providers/__init__.py), and its
recorded answers under tests/fixtures/<name>/. Nothing else lists providers, so a new
one that forgets a fact fails here, not when its first request arrives: it has recorded
fixtures (a JSON answer, a stream, errors) whose usage it reads, a price table, a header
for a held key or the signing capability, and renders every gateway error in the JSON
shape its API answers errors in. The toy provider of the end-to-end tests
(tests/e2e/toy_provider.py) is registered here the way a config registers it, so the
contract covers a provider from outside the package too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmgate import providers
from lmgate.keys import CREDENTIAL_PLACES
from lmgate.pricing import PriceBook, parse_entries
from lmgate.providers import rewritable_headers
from lmgate.providers.base import OTHER_PRICE_TABLES, ErrorKind, Provider, SignsUpstream
from tests.fakes import fixtures
from tests.unit.providers.fixture_table import STATUSES, WORDS

TOY = providers.load("tests.e2e.toy_provider")
ALL = sorted(providers.PROVIDERS)
BUILT_IN = sorted(name for name, api in providers.PROVIDERS.items() if type(api).__module__.startswith("lmgate."))
VALUES = {"prompt": 21, "output": len(WORDS), "cache_read": 0, "cache_write": 0, "thoughts": 0}
VALUES |= {"model": "some-model", "text": "".join(WORDS)}


def files(name: str, pattern: str) -> list[Path]:
    return sorted(f for f in (fixtures.ROOT / name).rglob(pattern) if f.is_file())


def test_the_toy_is_registered_by_its_module_path_and_a_second_provider_cannot_take_its_name():
    assert providers.get("toy") is TOY and providers.load("tests.e2e.toy_provider") is TOY
    with pytest.raises(ValueError, match="already registered"):
        providers.register(type(TOY)())
    with pytest.raises(ValueError, match="cannot be imported"):
        providers.load("tests.e2e.no_such_provider")
    with pytest.raises(ValueError, match="has no PROVIDER"):
        providers.load("lmgate.usage")


def test_every_built_in_provider_is_registered_once_under_its_name():
    assert providers.FALLBACK_KIND in providers.PROVIDERS
    for name, api in providers.PROVIDERS.items():
        assert isinstance(api, Provider) and api.name == name


@pytest.mark.parametrize("name", ALL)
def test_it_has_recorded_fixtures(name):
    assert files(name, "response.json"), f"tests/fixtures/{name}/<endpoint>/response.json: a JSON answer"
    assert [f for f in files(name, "stream*") if "without-usage" not in f.name], "a stream that carries usage"
    assert files(name, "errors.json"), "its error answers"


@pytest.mark.parametrize("name", ALL)
def test_it_reads_the_usage_of_its_recorded_answers(name):
    """The table test every provider shares: each recorded answer and stream that carries usage
    (provider-specific cases, caches and cut streams, are in test_<provider>.py)."""
    api = providers.get(name)
    answers = [f for f in files(name, "response*.json") if '"{{output' in f.read_text()]
    streams = [f for f in files(name, "stream*") if "without-usage" not in f.name]
    assert answers or streams
    for file in answers:
        body = fixtures.response(name, file.parent.name, VALUES, file.name).body
        usage = api.usage_from_body(body, stream=False)
        assert (usage.input_tokens, usage.output_tokens, usage.usage_source) == (21, len(WORDS), "provider"), file
    for file in streams:
        body = fixtures.stream(name, file.parent.name, VALUES, WORDS, file.name).body
        usage = api.usage_from_body(body, stream=True)
        assert (usage.input_tokens, usage.output_tokens, usage.usage_source) == (21, len(WORDS), "provider"), file


@pytest.mark.parametrize("name", ALL)
def test_it_names_its_price_tables(name):
    api = providers.get(name)
    assert api.price_sources or api.price_fallbacks, "where its prices come from"
    for table in api.price_fallbacks:
        assert table == OTHER_PRICE_TABLES or table in providers.PROVIDERS
    if api.price_sources:  # an entry of its own LiteLLM provider is found under its kind, with or without a prefix
        source = api.price_sources[0].rstrip("*")
        entry = {"litellm_provider": source, "input_cost_per_token": 1}
        book = PriceBook(parse_entries({"contract-model": entry}, "test"))
        assert book.price_for(name, "contract-model") is not None
        for prefix in api.model_id_prefixes:
            assert book.price_for(name, prefix + "contract-model") is not None


@pytest.mark.parametrize("name", BUILT_IN)
def test_the_shipped_prices_price_one_of_its_models(name):
    api = providers.get(name)
    book = PriceBook.load()
    own = (name, *api.price_fallbacks)
    claimed = {s.rstrip("*"): p.name for p in providers.PROVIDERS.values() for s in p.price_sources}
    model = next(
        m.name
        for m in book.models().values()
        if any((m.provider or "").startswith(s) and claimed[s] in own for s in claimed)
    )
    assert book.price_for(name, model) is not None


@pytest.mark.parametrize("name", ALL)
def test_it_has_a_key_header_or_signs(name):
    api = providers.get(name)
    assert (api.key_header is None) == isinstance(api, SignsUpstream), "a held key goes in a header, or it signs"
    if api.key_header is not None:
        assert api.key_header[0] in rewritable_headers(), "nginx can only set the headers it knows"
        assert api.key_header[0] in api.key_sources, "the held key goes where the client's key was"
    if isinstance(api, SignsUpstream):
        assert set(api.signature_headers) <= set(rewritable_headers())
    assert set(api.key_sources) <= set(CREDENTIAL_PLACES), "the one-credential check counts every place it reads"


def _string_paths(doc: object, path: tuple = ()) -> dict[tuple, str]:
    if isinstance(doc, dict):
        return {p: v for k, item in doc.items() for p, v in _string_paths(item, (*path, k)).items()}
    return {path: doc} if isinstance(doc, str) else {}


def _recorded_errors(api: Provider) -> list[dict]:
    """Its recorded error answers, or those of the provider whose wire format it extends (openai_compat:
    OpenAI's, which the OpenAI SDK reads from any OpenAI-compatible server)."""
    family = [c.name for c in type(api).__mro__ if isinstance(getattr(c, "name", None), str) and c.name]
    out = []
    for name in dict.fromkeys(family):
        for file in files(name, "errors.json"):
            out += json.loads(file.read_text()).values()
    return out


@pytest.mark.parametrize("kind", list(ErrorKind))
@pytest.mark.parametrize("name", ALL)
def test_it_renders_every_refusal_kind_in_its_own_error_shape(name, kind):
    api = providers.get(name)
    message = "lmgate: a refusal for the contract test"
    doc = json.loads(api.error_body(STATUSES[kind], message, kind))
    recorded = _recorded_errors(api)
    where = [p for p, text in _string_paths(doc).items() if text == message]
    assert len(where) == 1, "the message once"
    assert any(where[0] in _string_paths(r["body"]) for r in recorded), f"the message where {name} puts it"
    recorded_headers = {h.lower() for r in recorded for h in r.get("headers", {})}
    assert {h.lower() for h in api.error_headers(kind)} <= recorded_headers
