"""The benchmark scripts use lmgate's public surface only, and that surface exists.

``PUBLIC`` is what ``scripts/bench*.py`` and ``scripts/bench/*.py`` may import
from lmgate (besides running ``python -m lmgate serve`` and ``nginx-conf
--write``). Restructuring lmgate/ means keeping these names, or moving the
scripts along and this list with them; reaching for anything else in a script
means adding a small public function for it to the package first.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([*ROOT.glob("scripts/bench*.py"), *ROOT.glob("scripts/bench/*.py")])

PUBLIC: dict[str, set[str]] = {
    "lmgate.config": {"load_config", "DlpConfig", "PolicyConfig"},  # the config schema
    "lmgate.gateway": {"Gateway"},  # Gateway.from_config: the sidecar's parts, as it builds them
    "lmgate.handoff": {"Handoff"},  # what /auth hands nginx, and nginx writes into a spool line
    "lmgate.handlers.auth": {"auth"},  # the /auth handler, called as the fast path calls it (bench_auth.py)
    "lmgate.fastpath": {"protocol"},  # one nginx connection's protocol, fed nginx's bytes (bench_auth.py)
    "lmgate.routes": {"FAST_ROUTES"},  # the fast path's routes (/auth, /body)
    "lmgate.stats.spool": {"parse_line"},  # a spool line as nginx writes it -> the intake's entry
    "lmgate.policies.engine": {"PolicyEngine", "UsageUpdate"},  # UsageUpdate: a report for record_usages
    "lmgate.policies.base": {"RequestFacts"},  # PolicyEngine.decide's argument
    "lmgate.policies.limits": {"Limits", "NO_LIMITS"},  # a key's limits in RequestFacts
    "lmgate.policies.reservation": {"reservation_usd"},  # what a request holds against budgets (reserve)
    "lmgate.pricing": {"PriceBook"},  # the price list, for a reservation's price
    "lmgate.providers": {"PROVIDERS"},  # provider modules by kind
    "lmgate.tokens": {"count_tokens"},  # the offline tokenizer
    "lmgate.stats.rollups": {"Rollups"},
    "lmgate.stats.rollups_pg": {"PgRollups"},  # the shared store, for the SQLite vs PostgreSQL comparison
    "lmgate.dlp.scanner": {"DlpScanner"},
    "lmgate.dlp.analyzer": {"Detector"},  # the scan itself, without the scanner's routing
    "lmgate.app": {"make_app"},  # the sidecar's aiohttp app around a Gateway (scrapes over HTTP)
    "lmgate.metrics": {"Metrics"},  # counting stats lines, and the exposition a scrape answers
}
# the attributes the scripts use on those names
MEMBERS = {
    "Gateway": ("from_config",),
    "PolicyEngine": (
        "from_config",
        "decide",
        "record_usage",
        "record_usages",
        "release",
        "owner_limits",
        "close",
    ),
    "Rollups": ("rebuild", "add", "query", "spend", "row_counts"),
    "PgRollups": ("migrate", "add", "close"),
    "DlpScanner": ("start", "scan", "close"),
    "Detector": ("find",),
    "Handoff": ("encode", "decode"),
    "Metrics": ("observe", "exposition"),
    "PriceBook": ("load", "lookup"),
}


def lmgate_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every lmgate import in a script, ``import lmgate.x`` as (lmgate.x, "*")."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lmgate":
            out += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(alias.name, "*") for alias in node.names if alias.name.split(".")[0] == "lmgate"]
    return out


def private_attributes(path: Path) -> list[str]:
    """``obj._name`` uses other than on ``self``: a script reaching into an object's internals."""
    return [
        f"{ast.unparse(node)} (line {node.lineno})"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]


def test_the_scripts_are_found():
    names = {p.name for p in SCRIPTS}
    assert {"bench_policies.py", "bench_stats_lines.py", "run.py", "servers.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_script_imports_only_the_public_surface(script: Path):
    outside = [f"{m}.{n}" for m, n in lmgate_imports(script) if n not in PUBLIC.get(m, set())]
    assert outside == [], f"{script.relative_to(ROOT)} reaches into lmgate: {outside}"
    assert private_attributes(script) == []


def test_the_public_surface_exists():
    for module, names in PUBLIC.items():
        mod = importlib.import_module(module)
        for name in names:
            obj = getattr(mod, name)
            for member in MEMBERS.get(name, ()):
                assert callable(getattr(obj, member)), f"{module}.{name}.{member}"
