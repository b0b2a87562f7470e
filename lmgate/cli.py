"""`lmgate up | serve | nginx-conf`: argument parsing and process wiring only."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from lmgate.allowlist import AllowListError
from lmgate.config import Config, ConfigError, load_config
from lmgate.nginx_conf import RenderError, render_nginx_conf, write_nginx_conf
from lmgate.pricing import PricingError

log = logging.getLogger("lmgate")


def _setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LMGATE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_serve(config: Config) -> int:
    """Run the sidecar in the foreground."""
    from aiohttp import web

    from lmgate.app import make_app

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # optional speed-up
        pass
    try:
        app = make_app(config)
    except AllowListError as e:
        log.error("cannot start: %s", e)
        return 2
    web.run_app(
        app, host=config.sidecar.host, port=config.sidecar.port, print=None, access_log=None, shutdown_timeout=5
    )
    return 0


def cmd_nginx_conf(config: Config, out: str | None) -> int:
    if out:
        print(write_nginx_conf(config))
    else:
        sys.stdout.write(render_nginx_conf(config))
    return 0


def cmd_usage(config: Config, args: argparse.Namespace) -> int:
    """Print usage from the rollups file: requests, tokens and cost, grouped as asked."""
    from lmgate.stats.rollups import GROUPS, Rollups
    from lmgate.usage_report import QueryError, format_rows, parse_range

    group_by = [g.strip() for g in args.by.split(",") if g.strip()]
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        log.error("--by: unknown column(s) %s; choose from %s", ", ".join(unknown), ", ".join(GROUPS))
        return 2
    try:
        start, end = parse_range(args.since, args.until, time.time())
    except QueryError as e:
        log.error("--%s", e)
        return 2
    for flag, value in (("--key", args.key), ("--owner", args.owner)):
        if value is not None and not value:
            log.error("%s: empty; leave it out to see everyone's", flag)
            return 2
    if not config.rollups.path.exists():
        log.error("no rollups at %s yet (the sidecar writes them, or: lmgate rollups rebuild)", config.rollups.path)
        return 2
    with Rollups(config.rollups.path) as rollups:
        rows = rollups.query(start, end, group_by, key_id=args.key, owner=args.owner)
    out = format_rows(rows, args.format)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0


class _Once(argparse.Action):
    """An option that may be given at most once."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, "_given_" + self.dest, False):
            parser.error(f"{option_string} given more than once")
        setattr(namespace, "_given_" + self.dest, True)
        setattr(namespace, self.dest, values)


def cmd_rollups_rebuild(config: Config) -> int:
    """Recompute the rollups from the stats JSONL files, rotated and gzipped ones included."""
    from lmgate.stats.rollups import Rollups

    with Rollups(config.rollups.path) as rollups:
        lines = rollups.rebuild(config.stats.path)
        print(f"rebuilt {config.rollups.path} from {lines} stats lines ({rollups.malformed} malformed, skipped)")
    return 0


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def cmd_up(config: Config, nginx_bin: str) -> int:
    """Supervise the sidecar and nginx; Ctrl-C (or SIGTERM) stops both, and so does either one dying."""
    binary = shutil.which(nginx_bin)
    if binary is None:
        log.error("nginx not found (%s); on Debian/Ubuntu: apt-get install nginx-light libnginx-mod-http-js", nginx_bin)
        return 2
    conf = write_nginx_conf(config)
    test = subprocess.run([binary, "-t", "-q", "-e", "stderr", "-c", str(conf)], capture_output=True, text=True)
    if test.returncode != 0:
        log.error("nginx rejected the rendered config %s:\n%s", conf, test.stderr.strip())
        return 2
    sidecar = subprocess.Popen([sys.executable, "-m", "lmgate", "serve"])
    health = f"http://{config.sidecar.host}:{config.sidecar.port}/healthz"
    if not _wait_healthy(health, sidecar, timeout=30):
        log.error("the sidecar did not come up (see its messages above)")
        _stop(sidecar, signal.SIGTERM)
        return 2
    nginx = subprocess.Popen([binary, "-e", "stderr", "-c", str(conf)])
    log.info("lmgate is up: clients on %s:%d, sidecar on %s", config.server.host, config.server.port, health)
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    while not stopping and sidecar.poll() is None and nginx.poll() is None:
        time.sleep(0.2)
    if not stopping:
        log.error("%s exited; stopping the other", "sidecar" if sidecar.poll() is not None else "nginx")
    _stop(nginx, signal.SIGQUIT)  # graceful: in-flight streams finish, their stats get posted
    _stop(sidecar, signal.SIGTERM)  # then the sidecar flushes its buffered stats
    return 0 if stopping else 1


def _stop(proc: subprocess.Popen, sig: int, timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lmgate", description="A transparent gateway for LLM APIs.")
    parser.add_argument("--config", help="config file (default: $LMGATE_CONFIG or config/lmgate.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run nginx and the sidecar in the foreground")
    up.add_argument("--nginx", default=os.environ.get("LMGATE_NGINX", "nginx"), help="nginx binary")
    sub.add_parser("serve", help="run the sidecar only")
    conf = sub.add_parser("nginx-conf", help="print the nginx config rendered from the lmgate config")
    conf.add_argument("--write", action="store_true", help="write it into server.run_dir and print its path")
    usage = sub.add_parser("usage", help="print requests, tokens and cost from the rollups")
    once = {"action": _Once}  # a flag given twice is a mistake, not "the last one wins"
    usage.add_argument("--since", default="7d", help="30m, 24h, 7d, 2w, a date or an ISO time (default 7d)", **once)
    usage.add_argument("--until", help="end of the range (default: now)", **once)
    usage.add_argument(
        "--by", default="owner,model", help="comma-separated: key_id,owner,provider,model,hour,day", **once
    )
    usage.add_argument("--format", default="table", choices=("table", "csv", "json"), **once)
    usage.add_argument("--key", help="only this key id", **once)
    usage.add_argument("--owner", help="only this owner", **once)
    rollups = sub.add_parser("rollups", help="maintain the rollups file")
    rollups.add_argument("action", choices=("rebuild",), help="rebuild: recompute from the stats JSONL files")
    args = parser.parse_args(argv)
    _setup_logging()
    if args.config:
        os.environ["LMGATE_CONFIG"] = str(Path(args.config))  # the supervised sidecar reads the same file
    try:
        config = load_config(args.config)
        if args.command == "serve":
            return cmd_serve(config)
        if args.command == "nginx-conf":
            return cmd_nginx_conf(config, "write" if args.write else None)
        if args.command == "usage":
            return cmd_usage(config, args)
        if args.command == "rollups":
            return cmd_rollups_rebuild(config)
        return cmd_up(config, args.nginx)
    except (ConfigError, RenderError, AllowListError, PricingError) as e:
        log.error("%s", e)
        return 2
