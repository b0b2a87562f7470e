"""The rendered nginx.conf: what config settings become, checked with nginx's own parser (`nginx -t`)."""

import re
import shutil
import subprocess

import pytest

from lmgate.config import load_config
from lmgate.nginx_conf import render_nginx_conf

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _config(tmp_path, extra: str = ""):
    f = tmp_path / "c.yaml"
    f.write_text(
        f"server:\n  run_dir: {tmp_path / 'run'}\n{extra}"
        f"stats:\n  spool_dir: {tmp_path / 'spool'}\n"
        "providers:\n  openai:\n    upstream: http://127.0.0.1:9\n  anthropic: ~\n  gemini: ~\n  azure: ~\n"
        "  bedrock: ~\n  vertex: ~\n"
    )
    return load_config(f, {})


def _pools(conf: str) -> dict[str, tuple[int, str]]:
    """upstream name -> (keepalive, the block's text)."""
    blocks = re.findall(r"upstream (\w+) \{([^}]*)\}", conf)
    return {name: (int(re.search(r"keepalive (\d+);", body).group(1)), body) for name, body in blocks}


def _render(config):
    """The rendered file, with the temp directories nginx checks (the spool is left to nginx_conf's tests)."""
    run_dir = config.server.run_dir
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    out = run_dir / "nginx.conf"
    out.write_text(render_nginx_conf(config))
    return out


def _nginx_accepts(conf_path) -> None:
    done = subprocess.run([NGINX, "-t", "-e", "stderr", "-c", str(conf_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_keepalive_pools_by_default_outnumber_the_benchmarks_64_connections(tmp_path):
    conf_path = _render(_config(tmp_path))
    pools = _pools(conf_path.read_text())
    assert pools["lmgate_up_openai"][0] == 128
    assert pools["lmgate_fast"][0] == 128  # /auth: one link per request in flight too
    assert "keepalive_requests 1000000;" in pools["lmgate_fast"][1]
    assert pools["lmgate_sidecar"][0] == 8  # the gateway's own API: a few calls, not one per request
    _nginx_accepts(conf_path)


def test_upstream_keepalive_sizes_every_per_request_pool(tmp_path):
    conf_path = _render(_config(tmp_path, "  upstream_keepalive: 300\n"))
    pools = _pools(conf_path.read_text())
    assert pools["lmgate_up_openai"][0] == 300
    assert pools["lmgate_fast"][0] == 300
    _nginx_accepts(conf_path)


@pytest.mark.parametrize(("value", "message"), [("0", "greater than or equal to 1"), ("lots", "valid integer")])
def test_a_bad_upstream_keepalive_names_the_key(tmp_path, value, message):
    from lmgate.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        _config(tmp_path, f"  upstream_keepalive: {value}\n")
    assert "server.upstream_keepalive" in str(e.value) and message in str(e.value)


def test_every_location_writing_the_spool_has_it_as_root_and_caches_the_roots_test(tmp_path):
    """nginx tests a location's root before writing a log with variables in its path (no root, no line);
    open_file_cache keeps the answer instead of a stat() per request."""
    config = _config(tmp_path)
    conf = _render(config).read_text()
    locations = [part.partition("{") for part in conf.split("\n        location ")[1:]]  # none nests another
    writing = [(name.strip(), body) for name, _, body in locations if "access_log" in body]
    assert len(writing) == 7  # upstream, rewrite, rewrite_body, 413, 502, 503, 504 of the one provider
    for name, body in writing:
        assert f"root {config.spool_dir()};" in body, name
        assert "open_file_cache max=" in body, name


def test_auth_goes_over_the_sidecars_unix_socket_in_the_spool_by_default(tmp_path):
    config = _config(tmp_path)
    conf_path = _render(config)
    fast = _pools(conf_path.read_text())["lmgate_fast"][1]
    assert f"server 'unix:{tmp_path / 'spool' / 'sidecar.sock'}';" in fast
    _nginx_accepts(conf_path)


def test_fast_port_puts_auth_back_on_tcp(tmp_path):
    conf_path = _render(_config(tmp_path, "sidecar:\n  fast_port: 8082\n"))
    assert "server 127.0.0.1:8082;" in _pools(conf_path.read_text())["lmgate_fast"][1]
    _nginx_accepts(conf_path)
