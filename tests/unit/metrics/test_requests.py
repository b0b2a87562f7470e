"""The request families, counted from written stats lines."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lmgate.metrics import Metrics
from lmgate.policies.registry import register_module
from lmgate.stats.record import StatsRecord


def line(**fields) -> dict:
    """A stats line as the writer wrote it (every field, in order)."""
    base = dict(
        ts="2026-11-22T14:03:11.482Z", request_id="r", key_id="alice", owner="research", provider="openai",
        endpoint="/v1/chat/completions", model="gpt-4o-mini", status=200, stream=False,
    )  # fmt: skip
    base.update(fields)
    return StatsRecord(**base).as_dict()


def scrape(m: Metrics) -> dict[str, list]:
    text = generate_latest(m.registry).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(samples: list, name: str | None = None, **labels) -> float:
    hits = [s.value for s in samples if (name is None or s.name == name) and labels.items() <= s.labels.items()]
    assert hits, (name, labels)
    return sum(hits)


def test_requests_tokens_and_cost_by_labels_with_status_classes_and_stream():
    m = Metrics(max_models=10)
    m.observe(
        [
            line(input_tokens=10, output_tokens=5, cache_read_tokens=2, reasoning_tokens=1, cost_usd=0.25),
            line(status=201, input_tokens=1, output_tokens=1, cost_usd=0.5),
            line(stream=True, input_tokens=3, output_tokens=4, cache_write_tokens=7),
            line(status=429, error_type="upstream_error", ttfb_ms=5.0, latency_ms=6.0),
            line(key_id="bob", owner="ops", model="claude-haiku-4-5", provider="anthropic", output_tokens=9),
        ]
    )
    s = scrape(m)
    req = s["lmgate_requests"]
    assert value(req, key_id="alice", status_class="2xx", stream="false") == 2
    assert value(req, key_id="alice", status_class="2xx", stream="true") == 1
    assert value(req, key_id="alice", status_class="4xx") == 1
    assert value(req, key_id="bob", provider="anthropic", model="claude-haiku-4-5", owner="ops") == 1
    tok = s["lmgate_tokens"]
    alice = {"key_id": "alice", "owner": "research", "model": "gpt-4o-mini", "provider": "openai"}
    got = {t: value(tok, type=t, **alice) for t in ("input", "output", "cache_read", "cache_write", "reasoning")}
    assert got == {"input": 14, "output": 10, "cache_read": 2, "cache_write": 7, "reasoning": 1}
    assert value(tok, type="output", key_id="bob") == 9
    assert value(s["lmgate_cost_usd"], **alice) == pytest.approx(0.75)
    assert value(s["lmgate_upstream_errors"], provider="openai", status_class="4xx") == 1


def test_histograms_are_cumulative_in_seconds_per_provider_and_model():
    m = Metrics(max_models=10)
    m.observe([line(latency_ms=80.0, ttfb_ms=20.0, gateway_ms=1.0), line(latency_ms=3000.0, ttfb_ms=400.0)])
    s = scrape(m)
    dur = s["lmgate_request_duration_seconds"]
    assert value(dur, "lmgate_request_duration_seconds_bucket", le="0.05") == 0
    assert value(dur, "lmgate_request_duration_seconds_bucket", le="0.1") == 1
    assert value(dur, "lmgate_request_duration_seconds_bucket", le="5.0") == 2
    assert value(dur, "lmgate_request_duration_seconds_bucket", le="+Inf") == 2
    assert value(dur, "lmgate_request_duration_seconds_sum") == pytest.approx(3.08)
    assert value(s["lmgate_time_to_first_byte_seconds"], "lmgate_time_to_first_byte_seconds_count") == 2
    overhead = s["lmgate_gateway_overhead_seconds"]
    assert value(overhead, "lmgate_gateway_overhead_seconds_count", provider="openai", model="gpt-4o-mini") == 1
    assert value(overhead, "lmgate_gateway_overhead_seconds_bucket", le="0.001") == 1


@pytest.mark.parametrize(
    ("error_type", "reason"),
    [
        ("unauthorized", "unauthorized"),
        ("model_not_allowed", "model"),
        ("rate_limited_rpm", "rpm"),
        ("rate_limited_tpm", "tpm"),
        ("budget_exceeded", "budget"),
        ("too_many_parallel", "max_parallel"),
        ("dlp_blocked", "dlp"),
        ("sidecar_unavailable", "sidecar_unavailable"),
        ("too_large", "too_large"),
        ("upstream_unreachable", "upstream_unreachable"),
        ("policy_store_unavailable", "store_unavailable"),
    ],
)
def test_refusals_by_reason(error_type, reason):
    m = Metrics(max_models=10)
    m.observe([line(status=429, error_type=error_type), line(error_type="client_disconnect")])
    refusals = scrape(m)["lmgate_refusals"]
    assert [(x.labels["provider"], x.labels["reason"], x.value) for x in refusals] == [("openai", reason, 1.0)]


def test_a_refusal_of_a_policy_from_policies_extra_is_counted_under_its_name_and_an_undeclared_one_as_other():
    register_module("tests.e2e.toy_policy")  # lists ModelNameTooLong in its refusals
    m = Metrics(max_models=10)
    m.observe(
        [
            line(status=403, error_type="model_name_too_long"),
            line(status=403, error_type="model_name_too_long", provider="anthropic"),
            line(status=403, error_type="a_refusal_no_policy_lists"),
            line(status=503, error_type="yet_another"),
            line(status=499, error_type="client_disconnect"),  # forwarded: no refusal
        ]
    )
    refusals = sorted((x.labels["provider"], x.labels["reason"], x.value) for x in scrape(m)["lmgate_refusals"])
    assert refusals == [
        ("anthropic", "model_name_length", 1.0),
        ("openai", "model_name_length", 1.0),
        ("openai", "other", 2.0),
    ]


def test_dlp_findings_by_entity_type_and_action():
    m = Metrics(max_models=10)
    findings = {"mode": "block", "action": "block", "findings": {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1}}
    m.observe([line(status=403, error_type="dlp_blocked", dlp=findings), line(dlp={"mode": "log", "action": "allow",
               "findings": {"EMAIL_ADDRESS": 1}}), line(dlp={"mode": "off"})])  # fmt: skip
    dlp = scrape(m)["lmgate_dlp_findings"]
    got = {(x.labels["entity_type"], x.labels["action"]): x.value for x in dlp}
    assert got == {("EMAIL_ADDRESS", "block"): 2, ("PHONE_NUMBER", "block"): 1, ("EMAIL_ADDRESS", "allow"): 1}


def test_models_past_the_cap_are_other_and_no_model_is_empty():
    m = Metrics(max_models=2)
    m.observe([line(model=f"model-{i}") for i in range(5)] + [line(model=None)])
    models = {x.labels["model"]: x.value for x in scrape(m)["lmgate_requests"]}
    assert models == {"model-0": 1, "model-1": 1, "other": 3, "": 1}
    assert len(m.requests.models.known) == 3  # a flood of names keeps nothing more


def test_lines_of_an_older_format_still_count():
    m = Metrics(max_models=10)
    old = line(input_tokens=3)
    del old["gateway_ms"], old["dlp"]
    m.observe([old])
    assert value(scrape(m)["lmgate_tokens"], type="input") == 3


def test_each_instance_has_its_own_registry():
    a, b = Metrics(max_models=10), Metrics(max_models=10)
    a.observe([line()])
    assert scrape(a)["lmgate_requests"] and not scrape(b)["lmgate_requests"]
