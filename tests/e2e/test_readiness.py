"""Readiness: health says 200 only once the gateway can judge every request, and until then nothing that
needs judging passes unjudged (real nginx + sidecar, a DLP scanner that really takes seconds to start)."""

from __future__ import annotations

import os
import re
import signal

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
    # a request waits at most max_scan_ms for the scanner: short, so the scanner is surely still starting then
    gw = Gateway(tmp_path, fake.base_url, {"dlp": {"workers": 3, "max_scan_ms": 100}})
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


def test_a_dead_scanner_process_is_a_retryable_503_whatever_on_oversize_says(tmp_path, fake):
    # on_oversize: allow lets prompts too large or slow to scan through; a broken scanner is not that
    fake.clear()
    gw = Gateway(tmp_path, fake.base_url, {"dlp": {"workers": 1, "on_oversize": "allow"}})
    gw.write_allowlist([("ready-block", KEYS["block"], "privacy", {"dlp": "block"})], wait=False)
    with gw:
        gw.start()
        pids = re.findall(r"dlp: 1 scanner process\(es\) ready: \[(\d+)\]", gw.sidecar_log())
        assert len(pids) == 1, gw.sidecar_log()
        os.kill(int(pids[0]), signal.SIGKILL)  # the sidecar's own worker, started by this test's gateway
        # more than dlp.inline_max_bytes of text: scanned in the worker, which is gone
        prompt = f"write to {EMAIL} " + "lorem ipsum dolor sit amet " * 200
        with pytest.raises(openai.InternalServerError) as e:
            ask(gw, "block", prompt)
        assert e.value.status_code == 503 and "could not scan this request" in e.value.message, e.value
        assert e.value.response.headers.get("retry-after") == "1"
        assert fake.received == []  # never forwarded unscanned
        line = gw.next_stats(1, timeout=10)[0]
        assert (line["status"], line["error_type"]) == (503, "dlp_not_ready")
        # the pool is replaced: health comes back, and the same prompt is judged (blocked for its e-mail address)
        wait_for(lambda: health(gw)[0] == 200, timeout=90, what="health 200 once the new pool is up")
        with pytest.raises(openai.PermissionDeniedError):
            ask(gw, "block", prompt)
        assert fake.received == []
