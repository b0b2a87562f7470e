"""Upstream TLS: SNI is sent and the certificate is verified against server.ca_file."""

from __future__ import annotations

import asyncio
import ssl
import threading

import openai
import pytest
from aiohttp import web

from tests.e2e.certs import make_ca_and_cert
from tests.e2e.conftest import KEYS, ROWS
from tests.e2e.harness import Gateway, free_port


class TlsUpstream:
    """A one-route HTTPS server that records the SNI name each handshake asked for."""

    def __init__(self, cert, key) -> None:
        self.port = free_port()
        self.sni: list[str | None] = []
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "x"}]}
        )

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.ctx)
        self.loop.run_until_complete(site.start())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> TlsUpstream:
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.mark.parametrize("trusted", [True, False])
def test_upstream_tls_sends_sni_and_verifies_the_certificate(tmp_path, trusted):
    ca, cert, key = make_ca_and_cert(tmp_path / "pki", "localhost")
    with TlsUpstream(cert, key) as up:
        ca_file = str(ca) if trusted else "/etc/ssl/certs/ca-certificates.crt"
        gw = Gateway(tmp_path / "gw", f"https://localhost:{up.port}", {"server": {"ca_file": ca_file}})
        gw.write_allowlist(ROWS)
        gw.start()
        try:
            client = openai.OpenAI(base_url=gw.url + "/openai/v1", api_key=KEYS["openai"], max_retries=0)
            if trusted:
                assert [m.id for m in client.models.list()] == ["gpt-4o"]
            else:
                with pytest.raises(openai.InternalServerError) as e:
                    client.models.list()
                assert e.value.status_code == 502
                assert "certificate" in gw.nginx_log()
            assert "localhost" in up.sni, "nginx must send SNI"
        finally:
            gw.stop()
