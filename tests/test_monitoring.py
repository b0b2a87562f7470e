"""The monitoring files: alert rules checked and unit-tested by promtool, the Grafana dashboard and provisioning
valid for Grafana, and every label a query groups by exported by lmgate (tests/e2e/test_metrics.py runs the
queries against a real Prometheus)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from lmgate.metrics.families import ALL, HISTOGRAM
from tests.prometheus_server import require

REPO = Path(__file__).resolve().parent.parent
MONITORING = REPO / "monitoring"
RULES = MONITORING / "prometheus/rules"
DASHBOARD = MONITORING / "grafana/dashboards/lmgate.json"
DATASOURCES = MONITORING / "grafana/provisioning/datasources/lmgate.yml"


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require("promtool"), *args], capture_output=True, text=True, cwd=RULES)


def test_promtool_checks_the_rules():
    run = promtool("check", "rules", "lmgate.rules.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 6 rules found" in run.stdout


def test_promtool_unit_tests_the_rules():
    run = promtool("test", "rules", "lmgate.rules.test.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    tested = set(re.findall(r"alertname: (\w+)", (RULES / "lmgate.rules.test.yml").read_text()))
    alerts = {
        r["alert"] for g in yaml.safe_load((RULES / "lmgate.rules.yml").read_text())["groups"] for r in g["rules"]
    }
    assert tested == alerts  # every alert has a test


def test_promtool_checks_the_compose_prometheus_config():
    run = promtool("check", "config", "--syntax-only", str(MONITORING / "prometheus/prometheus.yml"))
    assert run.returncode == 0, run.stdout + run.stderr


def exported_series() -> set[str]:
    names = set()
    for f in ALL:
        kind_names = {"counter": [f.name + "_total"], "histogram": [f.name + s for s in ("_bucket", "_sum", "_count")]}
        names |= set(kind_names.get(f.kind, [f.name + "_info" if f.kind == "info" else f.name]))
    return names | {"up"}


def exported_labels(series: str) -> set[str]:
    for f in ALL:
        if series.startswith(f.name):
            return {*f.labels, *(("le",) if f.kind == HISTOGRAM else ()), "instance", "job"}
    return {"instance", "job"}


def exprs() -> list[tuple[str, str]]:
    out = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        out += [(panel["title"], t["expr"]) for t in panel.get("targets", [])]
    for g in yaml.safe_load((RULES / "lmgate.rules.yml").read_text())["groups"]:
        out += [(r["alert"], r["expr"]) for r in g["rules"]]
    return out


def test_queries_use_only_exported_series_and_their_labels():
    names = exported_series()
    for where, expr in exprs():
        used = set(re.findall(r"\blmgate_\w+", expr)) | ({"up"} if re.search(r"\bup\{", expr) else set())
        assert used and used <= names, (where, used - names)
        for series in used:
            labels = exported_labels(series)
            selectors = re.findall(rf"\b{series}\{{([^}}]*)\}}", expr)
            for sel in selectors:
                assert {m for m in re.findall(r"(\w+)\s*[=!]~?", sel)} <= labels, (where, sel)
        for grouped in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            allowed = set().union(*(exported_labels(s) for s in used))
            assert {g.strip() for g in grouped.split(",")} <= allowed, (where, grouped)


def test_dashboard_is_valid_for_grafana_provisioning():
    d = json.loads(DASHBOARD.read_text())
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    assert d["uid"] and d["title"] and isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36
    assert "id" not in d or d["id"] is None  # provisioning assigns ids
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    titles = set()
    for p in d["panels"]:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, p["title"]
        if p["type"] == "row":
            continue
        assert p["type"] in {"timeseries", "stat", "bargauge", "table", "gauge"}, p["type"]
        assert p["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]
        assert p["targets"] and p["title"] not in titles, p["title"]
        titles.add(p["title"])
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
        for t in p["targets"]:
            assert t["datasource"]["uid"] == uid and t["expr"].strip(), p["title"]
    for var in d["templating"]["list"]:
        assert var["datasource"]["uid"] == uid and var["query"]["query"].startswith("label_values(")
    wanted = ["Requests/s", "Errors/s", "Tokens/s", "Spend per hour by owner", "Spend per hour by model", "Top keys",
              "Budget used", "Request duration p50 / p99", "Time to first byte", "Gateway-added time p50 / p99",
              "Refusals by reason", "DLP findings", "Stats lag"]  # fmt: skip
    for title in wanted:
        assert any(t.startswith(title) for t in titles), title


def test_dashboard_provider_points_where_compose_mounts_the_dashboards():
    provider = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/lmgate.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./monitoring/grafana/dashboards:{path}:ro" in mounts
    assert compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].startswith(path)
