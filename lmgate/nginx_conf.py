"""Render nginx/nginx.conf.j2 from the config: the only place nginx settings come from."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

import jinja2

from lmgate.config import Config
from lmgate.errors import (
    InvalidRequest,
    NotFound,
    SidecarUnavailable,
    TooLarge,
    UpstreamTimeout,
    UpstreamUnreachable,
    generic_error,
    render,
)
from lmgate.handoff import MAX_ENCODED
from lmgate.providers import get as get_provider
from lmgate.providers import rewritable_headers
from lmgate.stats import line as spool_line
from lmgate.stats.spool import SUFFIX as SPOOL_SUFFIX
from lmgate.stats.spool import check_workers_reach, prepare_spool_dir

NJS_MODULE_CANDIDATES = (
    "/usr/lib/nginx/modules/ngx_http_js_module.so",  # Debian / Ubuntu
    "/etc/nginx/modules/ngx_http_js_module.so",  # nginx.org packages and image
    "/usr/lib64/nginx/modules/ngx_http_js_module.so",
)


# nginx's default, pinned: what a client's request head can hold (the request line within one buffer).
CLIENT_HEADER_BUFFERS = (4, 8 * 1024)
# The /auth answer's headers, read into one buffer: every client byte they may repeat (the URI, the
# client's key headers on a rewrite) fits the client's head; the handoff (handoff.MAX_ENCODED) and the
# sidecar's own headers the rest. Allocated per /auth call from the request's pool: ~40 KB more than
# nginx's 4 KB default per request in flight, so that no client input turns an answer into a 503.
AUTH_REPLY_BUFFER = CLIENT_HEADER_BUFFERS[0] * CLIENT_HEADER_BUFFERS[1] + MAX_ENCODED + 4 * 1024


# The console's Content-Security-Policy: its own files only, no inline script or style, no framing.
UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class RenderError(Exception):
    pass


@dataclass(slots=True)
class UpstreamView:
    name: str
    kind: str
    upstream: str
    prefix: str
    host: str
    hostport: str
    host_header: str
    tls: bool
    pooled: bool  # resolved now: an upstream{} block with keepalive
    proxy_pass: str
    errors: dict[int, str]
    error_headers: dict[int, dict[str, str]]  # e.g. Bedrock's x-amzn-ErrorType
    error_types: dict[int, str]  # the stats line's error_type of each (lmgate.errors.ErrorType)


def nginx_string(text: str) -> str:
    """Quote-safe content for a single-quoted nginx string (``$`` cannot be escaped there)."""
    if "$" in text:
        raise RenderError(f"text for nginx must not contain '$': {text[:80]}")
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return True


def _system_resolver() -> str | None:
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return None
    servers = [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]
    return " ".join(f"[{s}]" if ":" in s else s for s in servers) or None


def _upstream_view(name: str, config: Config) -> UpstreamView:
    p = config.providers[name]
    api = get_provider(p.kind)
    url = p.url
    tls = url.scheme == "https"
    port = url.port or (443 if tls else 80)
    host = url.hostname or ""
    default_port = port == (443 if tls else 80)
    host_header = host if default_port else f"{host}:{port}"
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    pooled = _resolves(host)
    target = f"lmgate_up_{name}" if pooled else hostport
    base_path = url.path.rstrip("/")
    errors = (  # the answers nginx gives itself, each at a location named by its status
        InvalidRequest(f"lmgate: the request path must start with {p.prefix}/ as sent, without encoded characters"),
        TooLarge(f"lmgate: request body larger than the gateway limit of {int(config.server.max_body_size)} bytes"),
        UpstreamUnreachable(f"lmgate: could not reach the {name} upstream at {p.upstream}"),
        SidecarUnavailable("lmgate: the gateway's policy service is not answering; request not forwarded"),
        UpstreamTimeout(
            f"lmgate: the {name} upstream at {p.upstream} did not answer within the gateway's "
            f"upstream timeout of {config.server.upstream_timeout:g} s"
        ),
    )
    bodies = {err.status: nginx_string(render(api, err).decode()) for err in errors}
    headers = {err.status: {k: nginx_string(v) for k, v in api.error_headers(err.kind).items()} for err in errors}
    return UpstreamView(
        name=name,
        kind=p.kind,
        upstream=p.upstream,
        prefix=p.prefix,
        host=host,
        hostport=hostport,
        host_header=host_header,
        tls=tls,
        pooled=pooled,
        proxy_pass=f"{url.scheme}://{target}{base_path}$lmgate_upstream_uri",
        errors=bodies,
        error_headers=headers,
        error_types={err.status: str(err.error_type) for err in errors},
    )


def find_njs_module() -> str:
    for path in NJS_MODULE_CANDIDATES:
        if Path(path).exists():
            return path
    raise RenderError(
        "nginx's njs module was not found (looked in " + ", ".join(NJS_MODULE_CANDIDATES) + "); "
        "on Debian/Ubuntu: apt-get install nginx-light libnginx-mod-http-js"
    )


def render_nginx_conf(config: Config, njs_module: str | None = None) -> str:
    run_dir = config.server.run_dir.resolve()
    providers = [_upstream_view(name, config) for name in sorted(config.providers)]
    resolver = None
    if not all(p.pooled for p in providers):
        resolver = config.server.resolver or _system_resolver()
        if resolver is None:
            unresolved = ", ".join(p.host for p in providers if not p.pooled)
            raise RenderError(f"cannot resolve {unresolved} and no DNS resolver is known: set server.resolver")
    host = config.server.host
    generic_404 = NotFound("lmgate: no provider is configured at this path; known prefixes: ")
    generic_404.message += ", ".join(p.prefix + "/" for p in providers)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(config.server.nginx_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("nginx.conf.j2").render(
        server=config.server,
        njs_module=njs_module or config.server.njs_module or find_njs_module(),
        run_dir=run_dir,
        njs_dir=config.server.nginx_dir.resolve() / "njs",
        ui_dir=config.server.nginx_dir.resolve() / "ui",
        ui_csp=UI_CSP,
        max_body=int(config.server.max_body_size),
        capture_max=int(config.stats.capture_max_bytes),
        sidecar_addr=f"{config.sidecar.host}:{config.sidecar.port}",
        sidecar_fast_addr=_fast_addr(config),
        auth_timeout=f"{int(config.sidecar.auth_timeout * 1000)}ms",
        client_header_buffers=f"{CLIENT_HEADER_BUFFERS[0]} {CLIENT_HEADER_BUFFERS[1] // 1024}k",
        auth_reply_buffer=f"{AUTH_REPLY_BUFFER // 1024}k",
        upstream_timeout=f"{int(config.server.upstream_timeout * 1000)}ms",  # "0.5" is 500 ms, not 0 s
        upstream_timeout_ms=int(config.server.upstream_timeout * 1000),
        ca_file=config.server.ca_file,
        listen=f"[{host}]:{config.server.port}" if ":" in host else f"{host}:{config.server.port}",
        providers=providers,
        resolver=resolver,
        sidecar_down_body=nginx_string(generic_error(503, "lmgate: the gateway's policy service is down").decode()),
        not_found_body=nginx_string(generic_error(404, generic_404.message).decode()),
        rewritable=rewritable_headers(),
        tls=_tls_view(config),
        spool_format=spool_line.log_format(),
        tail_slots=spool_line.TAIL_SLOTS,
        spool_dir=config.spool_dir(),
        # a random tag per render: nginx's workers may create files in the spool but not list it
        spool=f"{config.spool_dir()}/{secrets.token_hex(8)}-$lmgate_spool_slice{SPOOL_SUFFIX}",
    )


def _fast_addr(config: Config) -> str:
    """The ``server`` of nginx's /auth upstream: the sidecar's Unix socket, or TCP with ``sidecar.fast_port``."""
    s = config.sidecar
    if s.fast_port is not None:
        return f"[{s.host}]:{s.fast_port}" if ":" in s.host else f"{s.host}:{s.fast_port}"
    return f"'unix:{nginx_string(str(config.fast_socket()))}'"


def _tls_view(config: Config) -> dict[str, str] | None:
    s = config.server
    if s.tls_port is None:
        return None
    host = s.host
    listen = f"[{host}]:{s.tls_port}" if ":" in host else f"{host}:{s.tls_port}"
    return {"listen": listen, "cert": str(Path(s.tls_cert).resolve()), "key": str(Path(s.tls_key).resolve())}


def write_nginx_conf(config: Config, njs_module: str | None = None) -> Path:
    """Render into ``run_dir`` and create the temp dirs nginx needs."""
    run_dir = config.server.run_dir.resolve()
    for sub in ("tmp/client_body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    prepare_spool_dir(config.spool_dir())
    check_workers_reach(config.spool_dir())
    out = run_dir / "nginx.conf"
    out.write_text(render_nginx_conf(config, njs_module))
    return out
