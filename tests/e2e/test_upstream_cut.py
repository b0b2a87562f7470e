"""A stream the provider breaks off is no clean 200 on the stats line: nginx's read timeout, or a closed connection.

nginx sends the client what came, closes, and calls the request complete; njs
(gate.js capture) sees nginx's closing flush and names the cut. A client that
hangs up while the provider is silent stays a client_disconnect.
"""

from __future__ import annotations

import http.client
import time

import openai
import orjson
import pytest

from lmgate.errors import ErrorType
from tests.e2e.conftest import KEYS, ROWS
from tests.e2e.harness import Gateway
from tests.e2e.test_gateway import oai

CLIENT_DISCONNECT, UPSTREAM_CLOSED, UPSTREAM_TIMEOUT = (
    ErrorType.CLIENT_DISCONNECT,
    ErrorType.UPSTREAM_CLOSED,
    ErrorType.UPSTREAM_TIMEOUT,
)

TIMEOUT = 1.0  # server.upstream_timeout: nginx's proxy_read_timeout
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def cut_gw(fake, tmp_path_factory):
    with Gateway(tmp_path_factory.mktemp("cut"), fake.base_url, {"server": {"upstream_timeout": TIMEOUT}}) as gw:
        yield gw.start(ROWS)


@pytest.fixture
def cg(cut_gw, fake):
    return cut_gw.fresh(fake)


def _stream(gw, **kw) -> list:
    return list(oai(gw).chat.completions.create(model="stream-5", messages=HI, stream=True, **kw))


def test_a_stream_cut_by_the_upstream_timeout_says_so(cg, fake):
    fake.stall_before, fake.stall_s = 3, TIMEOUT + 1.5  # three events, then silence past the timeout
    with pytest.raises(openai.APIConnectionError):  # the client sees the answer end unfinished
        _stream(cg)
    line = cg.next_stats(timeout=10)[0]
    assert (line["status"], line["error_type"], line["stream"]) == (200, UPSTREAM_TIMEOUT, True)
    assert line["latency_ms"] >= (TIMEOUT - 0.3) * 1000  # nginx's read timer is lazy by up to 300 ms


def test_a_cut_after_the_usage_event_is_still_a_cut(cg, fake):
    fake.stall_before, fake.stall_s = 8, TIMEOUT + 1.5  # everything but the final [DONE]
    with pytest.raises(openai.APIConnectionError):
        _stream(cg, stream_options={"include_usage": True})
    line = cg.next_stats(timeout=10)[0]
    assert (line["error_type"], line["usage_source"]) == (UPSTREAM_TIMEOUT, "provider")  # what was billed
    assert line["output_tokens"] == 5


def test_a_provider_that_drops_the_connection_mid_stream(cg, fake):
    fake.hangup_before = 3
    with pytest.raises(openai.APIConnectionError):
        _stream(cg)
    line = cg.next_stats(timeout=10)[0]
    assert (line["status"], line["error_type"]) == (200, UPSTREAM_CLOSED)


def test_a_client_leaving_a_silent_provider_is_a_client_disconnect_and_slow_streams_are_clean(cg, fake):
    fake.stall_before, fake.stall_s = 3, TIMEOUT + 1.5
    conn = http.client.HTTPConnection("127.0.0.1", cg.port, timeout=10)
    body = orjson.dumps({"model": "stream-5", "messages": HI, "stream": True})
    conn.request("POST", "/openai/v1/chat/completions", body, {"Authorization": f"Bearer {KEYS['openai']}"})
    conn.getresponse().read1(64)
    time.sleep(0.3)  # the provider is silent now; the client gives up before nginx does
    conn.sock.close()
    conn.close()
    line = cg.next_stats(timeout=10)[0]
    assert line["error_type"] == CLIENT_DISCONNECT

    fake.stall_before, fake.stall_s = 3, TIMEOUT / 2  # a pause shorter than the timeout cuts nothing
    chunks = _stream(cg, stream_options={"include_usage": True})
    assert chunks[-1].usage is not None
    line = cg.next_stats(timeout=10)[0]
    assert (line["status"], line["error_type"], line["usage_source"]) == (200, None, "provider")


def test_a_provider_silent_past_the_timeout_before_it_answers_is_a_504_timeout(cg, fake):
    fake.answer_delay = TIMEOUT + 1.0
    with pytest.raises(openai.InternalServerError) as e:
        oai(cg).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert e.value.status_code == 504 and "did not answer within" in str(e.value)
    line = cg.next_stats(timeout=10)[0]
    assert (line["status"], line["error_type"]) == (504, UPSTREAM_TIMEOUT)


def test_a_504_has_its_stats_line_when_nginx_runs_with_a_prefix_that_has_no_html_dir(fake, tmp_path):
    """The 504 location writes the spool like every other: with the spool as its root, not nginx's html dir."""
    gw = Gateway(tmp_path / "gw", fake.base_url, {"server": {"upstream_timeout": TIMEOUT}})
    gw.nginx_prefix = tmp_path / "empty-prefix"
    gw.nginx_prefix.mkdir()
    with gw:
        gw.start(ROWS).fresh(fake)
        fake.answer_delay = TIMEOUT + 1.0
        try:
            with pytest.raises(openai.InternalServerError) as e:
                oai(gw).chat.completions.create(model="gpt-4o-mini", messages=HI)
        finally:
            fake.answer_delay = 0
        assert e.value.status_code == 504
        line = gw.next_stats(timeout=10)[0]
        assert (line["status"], line["error_type"]) == (504, UPSTREAM_TIMEOUT)
        assert "testing" not in gw.nginx_log(), gw.nginx_log()  # nginx's complaint about the missing root
