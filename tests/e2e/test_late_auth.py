"""Decisions nginx no longer waits for take no effect, and a request nginx ends with its 503 gives its slot back.

nginx waits ``sidecar.auth_timeout`` for /auth, then answers 503 and writes the
request's only stats line itself (``sidecar_unavailable``). An /auth answer ready
after that (a stalled sidecar, a slow store) must neither keep a max_parallel slot
or an rpm hit nor write a second line; a request that fails after its allow (the
redacted body cannot be fetched) ends in nginx's 503, whose line frees its slot.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import openai
import pytest
import redis

from tests.e2e.harness import REPO, Gateway, wait_for
from tests.e2e.test_gateway import oai
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

HI = [{"role": "user", "content": "hi"}]
SOLO = "sk-test-late-solo-0123456789"  # one request at a time, one a minute
UNLISTED = "sk-test-late-unlisted-0123456789"
LIMITS = {"max_parallel": "1", "rpm": "1"}


def _chat(gw, key: str, content: str = "hi"):
    messages = [{"role": "user", "content": content}]
    return oai(gw, key=key).chat.completions.create(model="gpt-4o-mini", messages=messages)


def _refused_503(gw, key: str, content: str = "hi") -> str:
    """A request nginx answers with its 503; returns its request id."""
    with pytest.raises(openai.InternalServerError) as e:
        _chat(gw, key, content)
    assert e.value.status_code == 503 and "not answering" in str(e.value)
    return e.value.response.headers["x-lmgate-request-id"]


def _lines_of(gw, request_ids: list[str]) -> dict[str, list[dict]]:
    lines = gw.stats_lines()
    return {rid: [x for x in lines if x["request_id"] == rid] for rid in request_ids}


def test_a_stalled_sidecars_late_answers_keep_no_slot_and_write_no_second_line(tmp_path, fake):
    gw = Gateway(tmp_path, fake.base_url, {"sidecar": {"auth_timeout": 1.0}, "dlp": {"max_scan_ms": 500}})
    gw.write_allowlist([("solo", SOLO, "eta", LIMITS)])
    gw.start()
    fake.clear()
    try:
        os.kill(gw.sidecar.pid, signal.SIGSTOP)  # /auth is asked, and answered only after nginx gave up
        try:
            stalled = [_refused_503(gw, SOLO), _refused_503(gw, UNLISTED)]
        finally:
            os.kill(gw.sidecar.pid, signal.SIGCONT)
        _settled(gw, stalled)
        # one line per request, nginx's: no 401 line for the unlisted key's request the client saw a 503 for
        for lines in _lines_of(gw, stalled).values():
            assert [(x["status"], x["error_type"]) for x in lines] == [(503, "sidecar_unavailable")], lines
        _chat(gw, SOLO)  # neither the stalled request's slot nor its rpm hit was kept
        assert len(fake.received) == 1
        assert "past sidecar.auth_timeout" in gw.sidecar_log()  # the operator hears of it
    finally:
        gw.stop()


def test_an_answer_that_turns_late_in_a_slow_store_is_undone(tmp_path, fake, redis_url):  # noqa: F811
    """Not late when the sidecar starts on it, late once the store has counted it: the counts are taken back."""
    settings = {"policies": {"store": redis_url, "store_timeout": 0.9}, "dlp": {"max_scan_ms": 500}}
    gw = Gateway(tmp_path, fake.base_url, settings)  # auth_timeout 2 s: late after 1.8 s
    gw.write_allowlist([("solo", SOLO, "eta", LIMITS)])
    gw.start()
    fake.clear()
    store = redis.Redis.from_url(redis_url)
    outcome: list[object] = []
    try:
        os.kill(gw.sidecar.pid, signal.SIGSTOP)
        client = threading.Thread(target=lambda: outcome.append(_catch(lambda: _chat(gw, SOLO))))
        client.start()
        time.sleep(1.4)  # asked 1.4 s ago: in time when the sidecar wakes ...
        store.client_pause(700)  # ... but its store call lasts until 2.1 s, past 1.8 s
        os.kill(gw.sidecar.pid, signal.SIGCONT)
        client.join(10)
        assert isinstance(outcome[0], openai.InternalServerError) and outcome[0].status_code == 503
        _settled(gw, [outcome[0].response.headers["x-lmgate-request-id"]])
        _chat(gw, SOLO)  # the rpm hit and the slot the store had counted were taken back
        assert len(fake.received) == 1
        assert [(x["status"], x["error_type"]) for x in gw.next_stats(2)] == [(503, "sidecar_unavailable"), (200, None)]
        assert "past sidecar.auth_timeout" in gw.sidecar_log()
    finally:
        store.close()
        os.kill(gw.sidecar.pid, signal.SIGCONT)
        gw.stop()


def _settled(gw, request_ids: list[str]) -> None:
    """Wait until nginx's lines of ``request_ids`` are written: the sidecar, awake again, read the spool, and
    answered (late) what nginx had asked meanwhile; then a moment for a store call that answer made."""
    wait_for(lambda: all(_lines_of(gw, request_ids).values()), timeout=10, what="the stalled requests' lines")
    time.sleep(0.5)


def _catch(call):
    try:
        return call()
    except Exception as e:  # the thread hands the error to the test
        return e


# --- a request that fails after its allow ends in nginx's 503, and its line frees its slot

REDACT_SOLO = "sk-test-late-redact-solo-0123456789"
REDACT_RPM = "sk-test-late-redact-rpm1-0123456789"


@pytest.fixture(scope="module")
def dlp_gw(fake, tmp_path_factory):
    """DLP redaction with a small body limit, and a fault: the endpoint nginx fetches replaced bodies from is
    gone (as for a body that expired or a sidecar that restarted in between). gate.js runs unchanged."""
    root = tmp_path_factory.mktemp("late-dlp")
    nginx_dir = root / "nginx"
    shutil.copytree(REPO / "nginx", nginx_dir)
    template = nginx_dir / "nginx.conf.j2"
    real = "proxy_pass http://lmgate_fast/body$is_args$args;"
    assert real in template.read_text()
    template.write_text(template.read_text().replace(real, "proxy_pass http://lmgate_fast/gone$is_args$args;"))
    settings = {"server": {"nginx_dir": str(nginx_dir), "max_body_size": 4096}, "dlp": {"workers": 1}}
    rows = [
        ("redact-solo", REDACT_SOLO, "eta", {"dlp": "redact", "max_parallel": "1"}),
        ("redact-rpm", REDACT_RPM, "eta", {"dlp": "redact", "rpm": "1"}),
    ]
    with Gateway(root, fake.base_url, settings) as gw:
        gw.start(rows)
        wait_for(lambda: "DLP scanner ready" in gw.sidecar_log(), timeout=60, what="the DLP scanner to start")
        yield gw


def test_a_failed_body_fetch_is_nginxs_503_and_its_line_frees_the_slot(dlp_gw, fake):
    dlp_gw.fresh(fake)
    rid = _refused_503(dlp_gw, REDACT_SOLO, "mail jane.doe@example.com")  # redacted: a body to fetch, which fails
    line = dlp_gw.next_stats()[0]
    assert line["request_id"] == rid and (line["status"], line["error_type"]) == (503, "sidecar_unavailable")
    assert line["key_id"] == "redact-solo"  # the handoff rode along on nginx's line: it gave the slot back
    assert fake.received == []
    _chat(dlp_gw, REDACT_SOLO, "nothing to find here")  # the one slot is free
    assert len(fake.received) == 1
    dlp_gw.next_stats()


def test_a_redaction_that_outgrows_the_body_limit_is_413_and_consumes_nothing(dlp_gw, fake):
    dlp_gw.fresh(fake)
    text = " ".join(f"u{i}@ex.io" for i in range(400))[:3900]  # each 8-byte address becomes <EMAIL_ADDRESS>
    with pytest.raises(openai.APIStatusError) as e:
        _chat(dlp_gw, REDACT_RPM, text)
    assert e.value.status_code == 413 and "redacted" in str(e.value)
    line = dlp_gw.next_stats()[0]
    assert (line["status"], line["error_type"]) == (413, "too_large") and line["dlp"]["action"] == "redact"
    assert fake.received == []
    _chat(dlp_gw, REDACT_RPM, "nothing to find here")  # its one request a minute is still there
    assert len(fake.received) == 1
