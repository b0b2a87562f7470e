"""No log line holds a key: nginx's error lines (which carry the request line and the upstream URL) and the
sidecar's lines, for an unreachable upstream (502), a stalled sidecar (/auth times out, 503) and an oversized
header (400), with nginx run as `lmgate up` runs it and as docker-compose runs it (real nginx, real sidecar)."""

from __future__ import annotations

import http.client
import os
import signal
from pathlib import Path

import yaml

from tests.e2e.harness import REPO, Gateway, free_port

GEMINI_KEY = "AIzaSyD-lmgate-log-test-0123456789abcdef"  # on the allow-list, sent as ?key=
#: a key of no known shape, in an oversized header: only its place in the request marks it
HEADER_KEY = "opaque-virtual-key-for-the-log-test-0001" + "x" * 9000
ROWS = [("gemini-logs", GEMINI_KEY, "logs")]
#: nginx logs at info, so that "client sent too long header line" (and the header it quotes) is logged too
SETTINGS = {"server": {"error_log_level": "info"}}


def send(gw: Gateway, path: str, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    body = b'{"contents":[{"parts":[{"text":"hi"}]}]}'
    conn.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
    status = conn.getresponse().status
    conn.close()
    return status


def provoke_error_lines(gw: Gateway, sidecar_pid: int) -> None:
    path = f"/gemini/v1beta/models/gemini-2.5-flash:generateContent?key={GEMINI_KEY}"
    assert send(gw, path) == 502  # the upstream is down: nginx logs the request line and the upstream URL
    os.kill(sidecar_pid, signal.SIGSTOP)  # a stalled sidecar: /auth times out
    try:
        assert send(gw, path) == 503
    finally:
        os.kill(sidecar_pid, signal.SIGCONT)
    assert send(gw, path, {"x-goog-api-key": HEADER_KEY}) == 400  # the header line is too long


def assert_masked(text: str, where: str) -> None:
    assert "while connecting to upstream" in text and "upstream timed out" in text, f"{where}: lines missing"
    assert "client sent too long header line" in text, f"{where}: the header line is missing"
    assert GEMINI_KEY not in text, f"{where}: the full key is logged"
    assert HEADER_KEY[:30] not in text, f"{where}: the header's key is logged"
    assert text.count(f"?key=…{GEMINI_KEY[-6:]}") >= 3, f"{where}: the masked key is missing"
    assert 'too long header line: "x-goog-api-key: …xxxxxx' in text, f"{where}: the masked header is missing"


def test_lmgate_up_masks_keys_in_nginx_and_sidecar_lines(tmp_path):
    gw = Gateway(tmp_path, f"http://127.0.0.1:{free_port()}", SETTINGS)  # nothing listens upstream
    gw.write_allowlist(ROWS)
    gw.start_up()
    try:
        provoke_error_lines(gw, gw.up_children()["sidecar"])
    finally:
        gw.stop()
    assert_masked(gw.up_log(), "lmgate up's output")


def compose_nginx_command(conf: Path) -> list[str]:
    """docker-compose.yaml's nginx command, with this machine's paths for the container's."""
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    command = compose["services"]["nginx"]["command"]
    return [part.replace("/app/run/nginx.conf", str(conf)).replace("/app/nginx/", f"{REPO}/nginx/") for part in command]


def test_the_compose_nginx_command_masks_keys_in_nginx_lines(tmp_path):
    gw = Gateway(tmp_path, f"http://127.0.0.1:{free_port()}", SETTINGS)
    gw.nginx_command = compose_nginx_command
    gw.write_allowlist(ROWS)
    gw.start()
    try:
        provoke_error_lines(gw, gw.sidecar.pid)
    finally:
        gw.stop()
    assert_masked(gw.nginx_log(), "nginx's log")
    assert GEMINI_KEY not in gw.sidecar_log()
