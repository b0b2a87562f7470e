"""Readiness: health says 200 only once the gateway can judge every request, and until then nothing that
needs judging passes unjudged (real nginx + sidecar, a DLP scanner that really takes seconds to start)."""

from __future__ import annotations

import openai
import orjson
import pytest

from tests.e2e.harness import Gateway, wait_for

KEYS = {
    "block": "sk-test-ready-block-0123456789",
    "log": "sk-test-ready-log-0123456789",
    "plain": "sk-test-ready-plain-0123456789",
}
EMAIL = "jane.doe@example.com"


def ask(gw: Gateway, key: str, text: str):
    client = openai.OpenAI(base_url=gw.url + "/openai/v1", api_key=KEYS[key], max_retries=0)
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])


def health(gw: Gateway) -> tuple[int, dict | None]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    conn.request("GET", "/lmgate/healthz")
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (orjson.loads(data) if resp.status != 200 else None)


def test_health_is_503_and_dlp_keys_get_a_503_until_the_scanner_is_ready(tmp_path, fake):
    fake.clear()
    # three scanner processes spawn and load presidio on the test machine's CPUs: seconds, as in production
    gw = Gateway(tmp_path, fake.base_url, {"dlp": {"workers": 3}})
    rows = [(f"ready-{m}", KEYS[m], "privacy", {"dlp": "off" if m == "plain" else m}) for m in KEYS]
    gw.write_allowlist(rows, wait=False)
    gw.start(ready=False)
    try:
        status, doc = health(gw)
        assert status == 503 and "DLP scanner is starting" in doc["error"]["message"], doc
        assert gw.sidecar_health() == 503
        # a key without DLP can be judged already
        assert ask(gw, "plain", f"write to {EMAIL}").choices[0].message.content
        # keys with DLP are refused, retryably, in the provider's shape: never forwarded unscanned
        for mode in ("block", "log"):
            with pytest.raises(openai.InternalServerError) as e:
                ask(gw, mode, f"write to {EMAIL}")
            assert e.value.status_code == 503, e.value
            assert "data-loss prevention is not ready" in e.value.message
            assert e.value.response.headers.get("retry-after") == "1"
        assert "DLP scanner ready" not in gw.sidecar_log(), "the scanner started before the test could look"
        assert len(fake.received) == 1  # the plain key's request only
        lines = gw.next_stats(3, timeout=10)
        refused = [line for line in lines if line["status"] == 503]
        assert sorted(line["key_id"] for line in refused) == ["ready-block", "ready-log"]
        assert {line["error_type"] for line in refused} == {"dlp_not_ready"}

        wait_for(lambda: health(gw)[0] == 200, timeout=90, what="health to say 200 once the scanner is ready")
        assert "DLP scanner ready" in gw.sidecar_log()
        assert gw.sidecar_health() == 200
        with pytest.raises(openai.PermissionDeniedError):
            ask(gw, "block", f"write to {EMAIL}")
        assert ask(gw, "block", "hello there").choices[0].message.content
        assert ask(gw, "log", f"write to {EMAIL}").choices[0].message.content
    finally:
        gw.stop()
