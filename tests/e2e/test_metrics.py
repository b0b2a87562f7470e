"""Prometheus metrics end to end: real nginx + njs + sidecar, the SDKs of every provider, a real Prometheus.

One module-scoped session drives the traffic once: the sidecar is stopped while
nginx keeps answering (refusals it logs for later, and Prometheus sees the
sidecar down), started again (the spool backlog makes the stats lag), then two
rounds of every provider and stream shape plus every kind of refusal, a budget
crossed and rate limits hit, while a private Prometheus scrapes the sidecar
every second with lmgate's alert rules loaded. The tests then check that the
counters equal the JSONL, that every query of the Grafana dashboard and of the
rules returns data from that Prometheus, and what the webhooks received.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import anthropic
import openai
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from lmgate.metrics.labels import REFUSAL_REASONS, status_class
from tests.e2e.harness import Gateway, free_port, wait_for
from tests.e2e.test_bedrock import (
    ENV,
    ENV_AKID,
    ENV_REF,
    ENV_SECRET,
    OPS,
    REGION,
    UPSTREAM_AKID,
    UPSTREAM_SECRET,
    call,
    provider_settings,
    sigv4_client,
)
from tests.e2e.test_gateway import claude, gemini, oai, raw_request
from tests.fakes.bedrock import FakeBedrock
from tests.prometheus_server import PrometheusServer
from tests.webhook_receiver import WebhookReceiver

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "monitoring/grafana/dashboards/lmgate.json"
RULES = REPO / "monitoring/prometheus/rules/lmgate.rules.yml"
# Grafana's variables, as Grafana would fill them in for "All" over the last minutes
GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "5m", "$provider": ".*", "$owner": ".*"}
ADMIN = "lmgate-metrics-admin-token-0123456789"
K = {
    name: f"sk-test-metrics-{name}-0123456789abcdef"
    for name in (
        "openai",
        "anthropic",
        "gemini",
        "azure",
        "tiny",
        "rpm",
        "tpm",
        "par",
        "models",
        "dlp-block",
        "dlp-log",
    )
}
EMAIL = "jane.doe@example.com"
HI = [{"role": "user", "content": "hi there"}]
BASE_ROWS = [
    ("m-openai", K["openai"], "alpha"),
    ("m-anthropic", K["anthropic"], "beta"),
    ("m-gemini", K["gemini"], "gamma"),
    ("m-azure", K["azure"], "delta"),
    ("m-tiny", K["tiny"], "capped", {"budget_usd": "0.00002", "budget_period": "day"}),
    ("m-rpm", K["rpm"], "alpha", {"rpm": "2"}),
    ("m-tpm", K["tpm"], "alpha", {"tpm": "5"}),
    ("m-par", K["par"], "alpha", {"max_parallel": "1"}),
    ("m-models", K["models"], "alpha", {"models": "gpt-4o*"}),
    ("aws-env", ENV_AKID, "team-a", {"client_secret": ENV_REF}),
]
DLP_ROWS = [
    ("m-dlp-block", K["dlp-block"], "privacy", {"dlp": "block"}),
    ("m-dlp-log", K["dlp-log"], "privacy", {"dlp": "log"}),
]
ISSUE_REASONS = {
    "unauthorized",
    "model",
    "rpm",
    "tpm",
    "budget",
    "max_parallel",
    "dlp",
    "sidecar_unavailable",
    "too_large",
    "upstream_unreachable",
}


@dataclass
class Session:
    gw: Gateway
    prom: PrometheusServer
    receiver: WebhookReceiver
    down_at: float = 0.0  # when Prometheus saw the sidecar down
    lagging_at: float = 0.0  # when Prometheus saw the stats lag after the restart
    end: float = 0.0
    metrics_text: str = ""
    notes: list[dict] = field(default_factory=list)


def attempt(fn, *args, **kw) -> int:
    """Make a request that the gateway may refuse; its status (200 when it passed)."""
    try:
        result = fn(*args, **kw)
        if hasattr(result, "__next__"):  # a stream: read it to its end
            for _ in result:
                pass
    except (openai.APIStatusError, anthropic.APIStatusError) as e:
        return e.status_code
    return 200


def every_shape(gw: Gateway, aws) -> None:
    """Every provider and stream shape, through the SDKs (raw HTTP for Vertex, as its SDK needs Google auth)."""
    o = oai(gw, key=K["openai"])
    o.chat.completions.create(model="gpt-4o-mini", messages=HI)
    list(o.chat.completions.create(model="gpt-4o", messages=HI, stream=True, stream_options={"include_usage": True}))
    list(o.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))  # no usage: estimated
    o.responses.create(model="gpt-4o", input="hello")
    list(o.responses.create(model="gpt-4o", input="hello", stream=True))
    o.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    c = claude(gw, K["anthropic"])
    c.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=HI)
    with c.messages.stream(model="claude-haiku-4-5", max_tokens=16, messages=HI) as s:
        s.get_final_message()
    g = gemini(gw, K["gemini"])
    g.models.generate_content(model="gemini-2.5-flash", contents="hello")
    list(g.models.generate_content_stream(model="gemini-2.5-flash", contents="hello"))
    path = "/vertex/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash"
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]})
    hdrs = {"x-goog-api-key": K["gemini"], "Content-Type": "application/json"}
    for suffix in (":generateContent", ":streamGenerateContent?alt=sse"):
        resp, data = raw_request(gw, "POST", path + suffix, body, hdrs)
        assert resp.status == 200, data
    azure = openai.AzureOpenAI(
        azure_endpoint=gw.url + "/azure", api_key=K["azure"], api_version="2024-10-21", max_retries=0
    )
    azure.chat.completions.create(model="my-deployment", messages=HI)
    list(azure.chat.completions.create(model="my-deployment", messages=HI, stream=True))
    groq = oai(gw, key=K["openai"], prefix="/groq/v1")
    groq.chat.completions.create(model="llama-9-unpriced", messages=HI)
    list(groq.chat.completions.create(model="llama-9-unpriced", messages=HI, stream=True))
    for op in OPS:
        call(aws, op)


def failures_and_refusals(gw: Gateway, fake) -> None:
    o = oai(gw, key=K["openai"])
    for model in ("fail-500", "fail-500", "fail-429"):  # the provider's errors
        assert attempt(o.chat.completions.create, model=model, messages=HI) in (500, 429)
    assert (
        attempt(oai(gw, key=K["openai"], prefix="/deadend/v1").chat.completions.create, model="x", messages=HI) == 502
    )
    big = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 300_000}]})
    resp, _ = raw_request(gw, "POST", "/openai/v1/chat/completions", big, {"Authorization": f"Bearer {K['openai']}"})
    assert resp.status == 413
    for i in range(40):
        resp, _ = raw_request(
            gw, "POST", "/openai/v1/chat/completions", b"{}", {"Authorization": f"Bearer sk-test-unknown-{i:04d}"}
        )
        assert resp.status == 401
    models = oai(gw, key=K["models"])
    assert attempt(models.chat.completions.create, model="gpt-3.5-turbo", messages=HI) == 403
    rpm = oai(gw, key=K["rpm"])
    assert 429 in [attempt(rpm.chat.completions.create, model="gpt-4o-mini", messages=HI) for _ in range(6)]
    tpm = oai(gw, key=K["tpm"])
    attempt(tpm.chat.completions.create, model="gpt-4o-mini", messages=HI)
    wait_for(lambda: any(r["key_id"] == "m-tpm" and r["status"] == 200 for r in gw.stats_lines()), what="tpm usage")
    assert attempt(tpm.chat.completions.create, model="gpt-4o-mini", messages=HI) == 429
    fake.chunk_delay = 0.3  # a stream that stays open while a second request of the key arrives
    par = oai(gw, key=K["par"])
    stream = par.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    next(stream)
    assert attempt(par.chat.completions.create, model="gpt-4o-mini", messages=HI) == 429
    list(stream)
    fake.chunk_delay = 0.01
    block = [{"role": "user", "content": f"mail me at {EMAIL}"}]
    assert attempt(oai(gw, key=K["dlp-block"]).chat.completions.create, model="gpt-4o-mini", messages=block) == 403
    assert attempt(oai(gw, key=K["dlp-log"]).chat.completions.create, model="gpt-4o-mini", messages=block) == 200
    tiny = oai(gw, key=K["tiny"])
    for _ in range(8):  # each answer costs about a third of the budget: 50%, 80% and 100% pass, then refusals
        # a small output cap: the hold (budget_mode reserve) fits the tiny budget beside the spend
        status = attempt(tiny.chat.completions.create, model="gpt-4o-mini", messages=HI, max_tokens=5)
        if status == 429:
            break
        seen = len(gw.stats_lines())
        wait_for(lambda seen=seen: len(gw.stats_lines()) > seen, what="the budget key's stats line")
        time.sleep(0.4)  # a budget check of the alerts in between
    assert status == 429


def _scraped_value(prom: PrometheusServer, expr: str) -> float | None:
    result = prom.query(expr)["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def session(fake, tmp_path_factory):
    bedrock = FakeBedrock(UPSTREAM_AKID, UPSTREAM_SECRET, REGION)
    bedrock.start()
    receiver = WebhookReceiver().start()
    root = tmp_path_factory.mktemp("metrics")
    settings = {
        "api": {"admin_token": ADMIN},
        "server": {"max_body_size": "256KiB"},
        "providers": {
            **provider_settings(bedrock.base_url),
            "deadend": {"upstream": f"http://127.0.0.1:{free_port()}", "kind": "openai_compat"},
        },
        "dlp": {"workers": 0},
        "policies": {"owners": {"capped": {"budget_usd": 50}}},
        "alerts": {
            "webhooks": [receiver.url],
            "check_interval": 0.3,
            "rate_limit_refusals": 3,
            "backoff": 0.1,
            "state_path": str(root / "alerts_state.json"),
        },
        "metrics": {"limits_cache_s": 0.2},
    }
    gw = Gateway(root, fake.base_url, settings, env=ENV)
    gw.write_allowlist(BASE_ROWS)
    prom: PrometheusServer | None = None
    try:
        with pytest.MonkeyPatch.context() as mp:
            for var in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
                mp.delenv(var, raising=False)
            mp.setenv("AWS_CONFIG_FILE", str(root / "no-aws-config"))
            mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(root / "no-aws-credentials"))
            gw.start()
            job = {"job_name": "lmgate", "static_configs": [{"targets": [f"127.0.0.1:{gw.sidecar_port}"]}]}
            prom = PrometheusServer([job], [RULES]).start()
            s = Session(gw, prom, receiver)
            wait_for(lambda: _scraped_value(prom, 'up{job="lmgate"}') == 1.0, timeout=15, what="a first scrape")
            drive(s, fake)
            yield s
    finally:
        if prom is not None:
            prom.stop()
        gw.stop()
        receiver.stop()
        bedrock.stop()


def drive(s: Session, fake) -> None:
    gw, prom = s.gw, s.prom
    # 1. the sidecar down: nginx refuses (503) and logs the refusals to the spool; Prometheus sees it down
    gw.stop_sidecar()
    for _ in range(2):
        assert attempt(oai(gw, key=K["openai"]).chat.completions.create, model="gpt-4o-mini", messages=HI) == 503
    refused_at = time.time()
    wait_for(lambda: prom.query('up{job="lmgate"} == 0')["result"], timeout=15, what="Prometheus to see it down")
    s.down_at = time.time()
    # 2. back after more than 10 s: the backlog's lines waited that long (the lag alert's threshold)
    time.sleep(max(0.0, refused_at + 10.5 - time.time()))
    gw.start_sidecar()
    wait_for(lambda: prom.query("lmgate_stats_spool_lag_seconds > 10")["result"], timeout=20, what="the lag")
    s.lagging_at = time.time()
    # 3. DLP keys (the scanner starts once a key needs it), then two rounds of traffic a few scrapes apart
    gw.write_allowlist(BASE_ROWS + DLP_ROWS)
    wait_for(lambda: "DLP scanner ready" in gw.sidecar_log(), timeout=90, what="the DLP scanner")
    aws = sigv4_client(gw.url, ENV_AKID, ENV_SECRET)
    fake.chunk_delay = 0.01
    fake.cache_read, fake.cache_write, fake.thoughts = 2, 3, 1  # every token type has a count
    for _ in range(2):
        every_shape(gw, aws)
        failures_and_refusals(gw, fake)
        time.sleep(2.5)
    # 4. quiet: every line written, counted, and scraped
    quiet_lines(gw)
    lines = len(gw.stats_lines())
    wait_for(lambda: _scraped_value(prom, "sum(lmgate_requests_total)") == lines, timeout=20, what="a scrape of it all")
    wait_for(lambda: any(n["lmgate"]["event"] == "budget" for n in s.receiver.received), what="a budget webhook")
    time.sleep(1.5)  # a rule evaluation after the last scrape
    s.end = time.time()
    s.metrics_text = sidecar_metrics(gw)
    s.notes = list(s.receiver.received)


def quiet_lines(gw: Gateway) -> None:
    def settled() -> bool:
        before = len(gw.stats_lines())
        time.sleep(1.0)
        return len(gw.stats_lines()) == before

    wait_for(settled, timeout=30, interval=0, what="the stats lines to settle")


def sidecar_metrics(gw: Gateway) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{gw.sidecar_port}/metrics", timeout=5) as r:
        assert r.status == 200
        return r.read().decode()


def samples(text: str, family: str) -> list:
    return [s for f in text_string_to_metric_families(text) if f.name == family for s in f.samples]


def test_counters_equal_the_jsonl_sums(session):
    lines = session.gw.stats_lines()
    text = session.metrics_text
    assert len(lines) > 100
    requests = samples(text, "lmgate_requests")
    assert sum(s.value for s in requests) == len(lines)
    want = Counter(
        (r["provider"], r["model"] or "", r["owner"] or "", r["key_id"] or "", status_class(r["status"]), r["stream"])
        for r in lines
    )
    got = {
        (s.labels["provider"], s.labels["model"], s.labels["owner"], s.labels["key_id"], s.labels["status_class"],
         s.labels["stream"] == "true"): s.value
        for s in requests
    }  # fmt: skip
    assert got == want
    tokens = samples(text, "lmgate_tokens")
    for token_type in ("input", "output", "cache_read", "cache_write", "reasoning"):
        jsonl = sum(r[f"{token_type}_tokens"] or 0 for r in lines)
        assert sum(s.value for s in tokens if s.labels["type"] == token_type) == jsonl, token_type
        assert jsonl > 0, token_type
    cost = sum(s.value for s in samples(text, "lmgate_cost_usd"))
    jsonl_cost = sum(r["cost_usd"] or 0 for r in lines)
    assert jsonl_cost > 0 and round(cost, 2) == round(jsonl_cost, 2) and cost == pytest.approx(jsonl_cost, abs=1e-9)
    refusals = {(s.labels["provider"], s.labels["reason"]): s.value for s in samples(text, "lmgate_refusals")}
    want_refusals = Counter(
        (r["provider"], REFUSAL_REASONS[r["error_type"]]) for r in lines if r["error_type"] in REFUSAL_REASONS
    )
    assert refusals == want_refusals
    assert {reason for _, reason in refusals} >= ISSUE_REASONS  # every reason of the issue, created by the traffic
    dlp = sum(s.value for s in samples(text, "lmgate_dlp_findings"))
    assert dlp == sum(sum((r["dlp"] or {}).get("findings", {}).values()) for r in lines) > 0
    shapes = {(r["provider"], r["stream"]) for r in lines if r["status"] == 200}
    assert {
        (p, st) for p in ("openai", "anthropic", "gemini", "vertex", "azure", "groq", "bedrock") for st in (0, 1)
    } <= {(p, int(st)) for p, st in shapes}


def test_no_key_prompt_or_uri_in_any_label(session):
    text = session.metrics_text
    for key in [*K.values(), ENV_AKID, ENV_SECRET]:
        assert key not in text and "…" + key[-6:] not in text  # nor the stats line's masked form
    for secret in (EMAIL, "hi there", "/v1/chat/completions", "sk-test-unknown"):
        assert secret not in text


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every dashboard panel target and every rule, with Grafana's variables filled in."""
    out = []
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            out.append((f"rule {rule['alert']}", rule["expr"]))
    filled = []
    for where, expr in out:
        for var, value in GRAFANA_VARS.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, f"{where}: a Grafana variable the test does not fill in: {expr}"
        filled.append((where, expr))
    return filled


def test_every_dashboard_and_rule_query_returns_data_from_prometheus(session):
    prom = session.prom
    # conditions that pass by nature are evaluated when the session made them
    at = {"rule LmgateSidecarDown": session.down_at, "rule LmgateStatsLag": session.lagging_at}
    empty = []
    for where, expr in queries():
        result = prom.query(expr, at.get(where, session.end))  # raises with Prometheus's parse error
        values = [float(r["value"][1]) for r in result["result"]] if result["resultType"] == "vector" else []
        if not any(math.isfinite(v) for v in values):
            empty.append(f"{where}: {expr} -> {result}")
    assert not empty, "\n".join(empty)
    assert len(queries()) >= 25


def test_dashboard_variables_have_values(session):
    dashboard = json.loads(DASHBOARD.read_text())
    for var in dashboard["templating"]["list"]:
        metric, label = var["definition"].removeprefix("label_values(").removesuffix(")").split(", ")
        values = session.prom.api(f"label/{label}/values", **{"match[]": metric})
        assert values, var["name"]


def test_rules_load_in_prometheus_and_the_budget_alert_fires(session):
    groups = session.prom.api("rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 6 and all(r["health"] == "ok" for r in rules), rules
    firing = [a for a in session.prom.api("alerts")["alerts"] if a["state"] == "firing"]
    assert any(
        a["labels"]["alertname"] == "LmgateBudgetExhausted" and a["labels"]["key_id"] == "m-tiny" for a in firing
    )


def test_webhooks_got_each_budget_threshold_once_and_one_rate_limit_notice(session):
    notes = session.notes
    budget = [n["lmgate"] for n in notes if n["lmgate"]["event"] == "budget" and n["lmgate"]["key_id"] == "m-tiny"]
    thresholds = [b["threshold_pct"] for b in budget]
    assert thresholds == sorted(set(thresholds)) and thresholds[-1] == 100, thresholds
    assert all(b["period"] == "day" and b["spend_usd"] >= b["budget_usd"] * b["threshold_pct"] / 100 for b in budget)
    limited = [n["lmgate"] for n in notes if n["lmgate"]["event"] == "rate_limit"]
    assert [n["key_id"] for n in limited].count("m-rpm") == 1  # two rounds of refusals, one notice (debounced)
    for n in notes:  # Slack's shape: a text and attachment fields
        assert n["text"].startswith("lmgate: ") and n["attachments"][0]["fields"]
    raw = json.dumps(notes)
    assert not any(key in raw for key in K.values())


def test_metrics_through_nginx_need_the_admin_token(session):
    gw = session.gw
    resp, data = raw_request(gw, "GET", "/lmgate/metrics")
    assert resp.status == 401 and orjson.loads(data)["error"]["type"] == "authentication_error"
    resp, _ = raw_request(gw, "GET", "/lmgate/metrics", headers={"Authorization": f"Bearer {K['openai']}"})
    assert resp.status == 401  # an allow-listed key is no admin
    resp, data = raw_request(gw, "GET", "/lmgate/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/plain")
    assert b"lmgate_requests_total{" in data
