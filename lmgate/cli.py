"""`lmgate up | serve | nginx-conf | usage | rollups | keys | prices`: argument parsing and process wiring only."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from lmgate import cli_keys, cli_prices
from lmgate.allowlist import AllowListError
from lmgate.config import Config, load_config
from lmgate.errors import ConfigError
from lmgate.logmask import MaskingFormatter, mask_secrets
from lmgate.nginx_conf import RenderError, render_nginx_conf, write_nginx_conf
from lmgate.pricing import PricingError
from lmgate.supervise import Child, Supervisor

log = logging.getLogger("lmgate")

#: seconds a thread may keep the GIL while another waits for it. The stats writer's flush (metrics, rollups) and
#: the rollups upkeep run in threads; at Python's default 5 ms an /auth that arrived during a flush waited up to
#: that long for the event loop. At 1 ms, p99.9 at 1,000 req/s went from 10.0 to 5.5 ms, saturation CPU and stream
#: TTFB unchanged (docs/performance.md).
GIL_SWITCH_S = 0.001


def _setup_logging() -> None:
    """Log lines to stderr, every credential in them masked (lmgate/logmask.py)."""
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=os.environ.get("LMGATE_LOG_LEVEL", "INFO").upper(), handlers=[handler])


def cmd_serve(config: Config) -> int:
    """Run the sidecar in the foreground."""
    from aiohttp import web

    from lmgate.app import make_app

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # optional speed-up
        pass
    sys.setswitchinterval(GIL_SWITCH_S)
    try:
        app = make_app(config)
    except AllowListError as e:
        log.error("cannot start: %s", e)
        return 2
    web.run_app(
        app, host=config.sidecar.host, port=config.sidecar.port, print=None, access_log=None, shutdown_timeout=5
    )
    return 0


def _await_activation() -> bool:
    """A spare sidecar (``lmgate up`` keeps one): do the slow part of starting now, then wait until the
    supervisor says serve (True) or closes stdin (False). Config and allow-list are read after, fresh."""
    from aiohttp import web  # noqa: F401 - importing is the work a spare does ahead

    import lmgate.app  # noqa: F401

    try:
        sys.stdout.write("ready\n")  # the supervisor reads this line, and no other
        sys.stdout.flush()
    except OSError:  # it stopped listening: it called on us before we were ready
        pass
    serve = sys.stdin.buffer.readline() != b""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # nothing more goes to the supervisor's pipe, which it closed
    os.close(devnull)
    return serve


def cmd_nginx_conf(config: Config, out: str | None) -> int:
    if out:
        print(write_nginx_conf(config))
    else:
        sys.stdout.write(render_nginx_conf(config))
    return 0


def cmd_usage(config: Config, args: argparse.Namespace) -> int:
    """Print usage from the rollups (the file, or the shared store): requests, tokens and cost, grouped as asked."""
    from lmgate.stats.backend import RollupsUnavailable, open_rollups
    from lmgate.stats.rollups import GROUPS, schema_is_current
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
    if not config.rollups.store and not config.rollups.path.exists():
        log.error("no rollups at %s yet (the sidecar writes them, or: lmgate rollups rebuild)", config.rollups.path)
        return 2
    if not config.rollups.store and not schema_is_current(config.rollups.path):
        # opening it would empty it into the current schema, and a restarting sidecar would trust that
        log.error(
            "the rollups at %s are of another version: the sidecar rebuilds them when it starts (or, with it "
            "stopped: lmgate rollups rebuild)",
            config.rollups.path,
        )
        return 2
    rollups = open_rollups(config.rollups, migrate=False)
    try:
        rows = rollups.query(start, end, group_by, key_id=args.key, owner=args.owner)
    except RollupsUnavailable as e:
        log.error("%s", e)
        return 1
    finally:
        rollups.close()
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


def cmd_rollups_rebuild(config: Config, paths: list[str]) -> int:
    """Recompute the rollups from stats JSONL files (rotated and gzipped ones included): this instance's, or
    with a shared store, every instance's (``paths``)."""
    from lmgate.stats.backend import RollupsUnavailable, open_rollups

    files = [Path(p) for p in paths] or [config.stats.path]
    if len(files) > 1 and not config.rollups.store:
        log.error("several stats files need a shared store (rollups.store: postgresql://...); SQLite holds one")
        return 2
    missing = [str(p) for p in files if not p.exists() and not any(p.parent.glob(f"{p.stem}-*{p.suffix}*"))]
    if missing:
        log.error("no stats file at %s", ", ".join(missing))
        return 2
    rollups = open_rollups(config.rollups)
    try:
        lines = rollups.rebuild(files if config.rollups.store else files[0])  # type: ignore[attr-defined]
    except RollupsUnavailable as e:
        log.error("%s", e)
        return 1
    finally:
        rollups.close()
    where = getattr(rollups, "name", config.rollups.path)
    print(f"rebuilt {where} from {lines} stats lines ({rollups.malformed} malformed, skipped)")
    return 0


def cmd_db_migrate(config: Config) -> int:
    """Create or migrate the shared rollups store's schema (the sidecar does it too, at start)."""
    from lmgate.stats.backend import RollupsUnavailable
    from lmgate.stats.rollups_pg import PgRollups

    if not config.rollups.store:
        log.error("rollups.store is not set: the SQLite rollups file (rollups.path) migrates itself")
        return 2
    store = PgRollups(config.rollups.store)
    try:
        version = store.migrate()
    except RollupsUnavailable as e:
        log.error("%s", e)
        return 1
    finally:
        store.close()
    print(f"{store.name}: schema version {version}")
    return 0


def _sidecar_answers(url: str) -> bool:
    """/healthz answers: 200, or 503 while the DLP scanner starts (nginx fails closed for those keys meanwhile)."""
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _nginx_listening(pid_file: Path, child: Child) -> bool:
    """nginx writes its pid file once its sockets are bound."""
    try:
        return pid_file.read_text().strip() == str(child.pid)
    except OSError:
        return False


def cmd_up(config: Config, nginx_bin: str, with_nginx: bool = True) -> int:
    """Run the sidecar and nginx, restarting either when it dies (lmgate/supervise.py); Ctrl-C or SIGTERM
    stops both in order. Without nginx (it runs elsewhere, e.g. its own container) the sidecar only."""
    binary = shutil.which(nginx_bin) if with_nginx else None
    if with_nginx and binary is None:
        log.error("nginx not found (%s); on Debian/Ubuntu: apt-get install nginx-light libnginx-mod-http-js", nginx_bin)
        return 2
    conf = write_nginx_conf(config)
    sidecar = [sys.executable, "-m", "lmgate", "serve", "--standby"]
    children = [Child("sidecar", sidecar, signal.SIGTERM, signal.SIGTERM, standby=True)]
    if binary is not None:
        test = subprocess.run([binary, "-t", "-q", "-e", "stderr", "-c", str(conf)], capture_output=True, text=True)
        if test.returncode != 0:
            log.error("nginx rejected the rendered config %s:\n%s", conf, mask_secrets(test.stderr.strip()))
            return 2
        children.append(Child("nginx", [binary, "-e", "stderr", "-c", str(conf)], signal.SIGQUIT, signal.SIGQUIT))
    supervisor = Supervisor(children)
    supervisor.handle_signals()
    health = f"http://{config.sidecar.host}:{config.sidecar.port}/healthz"
    if not supervisor.start_first(children[0], lambda: _sidecar_answers(health), timeout=60):
        log.error("the sidecar did not come up (see its messages above)")
        supervisor.stop()
        return 0 if supervisor.stopping else 2
    if binary is not None:
        nginx, pid_file = children[1], config.server.run_dir.resolve() / "nginx.pid"
        if not supervisor.start_first(nginx, lambda: _nginx_listening(pid_file, nginx), timeout=15):
            log.error("nginx did not come up (see its messages above)")
            supervisor.stop()
            return 0 if supervisor.stopping else 2
        log.info("lmgate is up: clients on %s:%d, sidecar on %s", config.server.host, config.server.port, health)
    else:
        log.info("lmgate's sidecar is up on %s (nginx runs elsewhere)", health)
    return supervisor.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lmgate", description="A transparent gateway for LLM APIs.")
    parser.add_argument("--config", help="config file (default: $LMGATE_CONFIG or config/lmgate.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run nginx and the sidecar in the foreground, restarting either if it dies")
    up.add_argument("--nginx", default=os.environ.get("LMGATE_NGINX", "nginx"), help="nginx binary")
    up.add_argument(
        "--without-nginx", action="store_true", help="the sidecar only: nginx runs elsewhere (its own container)"
    )
    serve = sub.add_parser("serve", help="run the sidecar only")
    serve.add_argument("--standby", action="store_true", help="import first, then wait for a line on stdin to serve")
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
    rollups.add_argument(
        "paths",
        nargs="*",
        help="stats JSONL files (default: stats.path); several: every instance's, into rollups.store",
    )
    db = sub.add_parser("db", help="the shared rollups store (rollups.store: postgresql://...)")
    db.add_argument("action", choices=("migrate",), help="migrate: create or upgrade its schema")
    cli_keys.add_parser(sub, once)
    cli_prices.add_parser(sub, once)
    args = parser.parse_args(argv)
    _setup_logging()
    if args.command == "serve" and args.standby and not _await_activation():
        return 0
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
            return cmd_rollups_rebuild(config, args.paths)
        if args.command == "db":
            return cmd_db_migrate(config)
        if args.command == "keys":
            return cli_keys.run(config, args)
        if args.command == "prices":
            return cli_prices.run(config, args)
        return cmd_up(config, args.nginx, with_nginx=not args.without_nginx)
    except (ConfigError, RenderError, AllowListError, PricingError) as e:
        log.error("%s", e)
        return 2
