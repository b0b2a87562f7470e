"""A provider added from outside the package works end to end: tests/e2e/toy_provider.py (one file)
plus one config line naming its module (``kind: tests.e2e.toy_provider``), with its recorded
answers in tests/fixtures/toy/.

Through real nginx and the sidecar: an allowed request is forwarded, its usage is read from
the toy's answer (JSON and stream) into the stats line and priced from a price file's
``litellm_provider: toy`` entry; a held key goes upstream in the toy's key header; refusals,
by the sidecar (unknown key) and by nginx itself (too large), come in the toy's error JSON.
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.e2e.harness import REPO, Gateway
from tests.fakes.upstream import prompt_tokens

KEY = "toy-test-key-0123456789abcdef"
HELD = "toy-virtual-key-0123456789abcdef"
REAL = "toy-real-provider-key-0123456789"
PRICES = {"toy-small": {"litellm_provider": "toy", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}
OUTPUT = 5  # the fake's answer to a model not named stream-N: five text pieces


@pytest.fixture(scope="module")
def toy_gw(fake, tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    prices = root / "prices.json"
    prices.write_bytes(orjson.dumps(PRICES))
    settings = {
        "providers": {"toy": {"kind": "tests.e2e.toy_provider", "upstream": fake.base_url}},
        "pricing": {"file": str(prices)},
        "server": {"max_body_size": "16k"},
    }
    # the sidecar imports the module as a user's deployment would: from its PYTHONPATH
    gw = Gateway(root, fake.base_url, settings, env={"PYTHONPATH": str(REPO), "TOY_KEY": REAL})
    rows = [("toy-team", KEY, "alpha"), ("toy-held", HELD, "beta", {"upstream_key": "env:TOY_KEY"})]
    with gw.start(rows):
        yield gw


@pytest.fixture
def toy(toy_gw, fake):
    fake.clear()
    fake.chunk_delay = 0.0
    toy_gw.mark_stats()
    return toy_gw


def post(gw: Gateway, body: dict, key: str = KEY, **kw) -> httpx.Response:
    return httpx.post(f"{gw.url}/toy/v1/generate", json=body, headers={"x-api-key": key}, timeout=30, **kw)


def test_an_allowed_request_is_forwarded_and_its_usage_priced(toy, fake):
    body = {"model": "toy-small", "prompt": "Say hello."}
    r = post(toy, body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["model"] == "toy-small" and answer["tokens"]["out"] == OUTPUT
    assert [req.raw_path for req in fake.received] == ["/v1/generate"]
    assert fake.received[0].header("x-api-key") == KEY, "a pass-through key reaches the toy as sent"

    line = toy.stats_for(r.headers["X-Lmgate-Request-Id"])
    prompt = prompt_tokens(orjson.dumps(body))
    assert line["provider"] == "toy" and line["model"] == "toy-small" and line["status"] == 200
    assert (line["input_tokens"], line["output_tokens"], line["usage_source"]) == (prompt, OUTPUT, "provider")
    assert line["cost_usd"] == pytest.approx(prompt * 1e-6 + OUTPUT * 2e-6)
    assert line["error_type"] is None


def test_a_stream_is_read_for_its_usage(toy):
    with httpx.stream(
        "POST",
        f"{toy.url}/toy/v1/generate",
        json={"model": "toy-small", "prompt": "Say hello.", "stream": True},
        headers={"x-api-key": KEY},
        timeout=30,
    ) as r:
        text = r.read().decode()
        rid = r.headers["X-Lmgate-Request-Id"]
    assert r.status_code == 200 and text.count('"delta"') == OUTPUT
    line = toy.stats_for(rid)
    assert line["stream"] is True
    assert (line["output_tokens"], line["usage_source"]) == (OUTPUT, "provider")
    assert line["cost_usd"] is not None and line["cost_usd"] > 0


def test_a_held_key_goes_upstream_in_the_toys_key_header(toy, fake):
    r = post(toy, {"model": "toy-small", "prompt": "hi"}, key=HELD)
    assert r.status_code == 200, r.text
    assert fake.received[0].header("x-api-key") == REAL, "the gateway's key replaces the client's"


def test_refusals_come_in_the_toys_own_error_shape(toy, fake):
    r = post(toy, {"model": "toy-small", "prompt": "hi"}, key="toy-unlisted-key-0123456789")
    assert r.status_code == 401
    error = r.json()["toy_error"]
    assert error["kind"] == "authentication" and "allow-list" in error["detail"]
    line = toy.stats_for(r.headers["X-Lmgate-Request-Id"])
    assert (line["provider"], line["status"], line["error_type"]) == ("toy", 401, "unauthorized")

    big = post(toy, {"model": "toy-small", "prompt": "x" * 20_000})  # nginx answers this one itself
    assert big.status_code == 413
    assert big.json()["toy_error"]["kind"] == "too_large"
    assert fake.received == [], "nothing refused reaches the provider"
