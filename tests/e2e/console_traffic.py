"""Traffic for the console's tests: three weeks of stats history and live requests through the SDKs.

The history is stats lines written into the JSONL before the gateway starts (it
builds its rollups from them, as after an upgrade); the live requests go
through the real gateway with the official SDKs: several keys, owners, models
and providers, and refusals of every common kind (model rule, rpm, budget, DLP
block, unknown key).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import anthropic
import openai
import orjson

from tests.e2e.harness import Gateway, wait_for
from tests.e2e.test_gateway import claude, gemini, oai

ADMIN = "lmgate-console-admin-token-0123456789"
XSS_OWNER = "<img src=x onerror=alert(1)>"
QUOTED_MODEL = """gpt-4o-mini "quoted" 'model'"""
K = {name: f"sk-test-console-{name}-0123456789abcdef" for name in ("web", "batch", "support", "xss", "analytics")}
ROWS = [
    ("web-app", K["web"], "research", {"budget_usd": "12", "budget_period": "month"}),
    ("batch-jobs", K["batch"], "platform", {"rpm": "4"}),
    ("support-bot", K["support"], "support", {"budget_usd": "0.02", "budget_period": "day"}),
    ("xss-probe", K["xss"], XSS_OWNER, {"dlp": "block"}),
    ("analytics", K["analytics"], "research", {"models": "gpt-4o-mini*;claude-*", "max_model_chars": "64"}),
]
OWNERS = {"research": {"budget_usd": 90, "budget_period": "month"}}
# the toy policy (tests/e2e/toy_policy.py) shows how the keys page lists a column of a policy from policies.extra
SETTINGS = {"api": {"admin_token": ADMIN}, "policies": {"owners": OWNERS, "extra": ["tests.e2e.toy_policy"]}}
HI = [{"role": "user", "content": "hi there"}]
EMAIL = "jane.doe@example.com"
# (key id, owner, provider, model, requests per hour at peak, USD per 1k tokens) of the history
HISTORY_MIX = [
    ("web-app", "research", "openai", "gpt-4o-2024-08-06", 3, 0.0060),
    ("web-app", "research", "anthropic", "claude-sonnet-4-5-20250929", 2, 0.0090),
    ("batch-jobs", "platform", "openai", "gpt-4o-mini-2024-07-18", 6, 0.0004),
    ("batch-jobs", "platform", "gemini", "gemini-2.5-flash", 4, 0.0007),
    ("support-bot", "support", "anthropic", "claude-haiku-4-5-20251001", 3, 0.0018),
    ("analytics", "research", "openai", "gpt-4o-mini-2024-07-18", 2, 0.0004),
]
REFUSALS = [(401, "unauthorized"), (429, "rate_limited_rpm"), (403, "model_not_allowed"), (403, "dlp_blocked")]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def history(now: float, days: int = 40, seed: int = 16) -> list[dict]:
    """Stats lines for the ``days`` before the current hour: a daily rhythm, weekdays busier, a few refusals
    and DLP findings; the newest first hour before now is left empty so live traffic stands out."""
    rnd = random.Random(seed)
    end = now - now % 3600 - 3600
    lines = []
    for hour in range(days * 24):
        start = end - (days * 24 - hour) * 3600
        when = datetime.fromtimestamp(start, UTC)
        rhythm = (0.25 if when.hour < 7 or when.hour > 20 else 1.0) * (0.45 if when.weekday() >= 5 else 1.0)
        for key, owner, provider, model, peak, per_1k in HISTORY_MIX:
            for _ in range(rnd.choices(range(peak + 1), weights=[1 + (1 - rhythm) * 4, *[rhythm] * peak])[0]):
                t = start + rnd.random() * 3600
                inp, out = rnd.randint(200, 3000), rnd.randint(50, 900)
                latency = rnd.lognormvariate(7.0 if "mini" in model or "flash" in model else 7.6, 0.45)
                lines.append(
                    _line(
                        t,
                        key,
                        owner,
                        provider,
                        model,
                        inp,
                        out,
                        round((inp + out) / 1000 * per_1k, 10),
                        latency,
                        latency * rnd.uniform(0.15, 0.4),
                        rnd.uniform(0.4, 2.5),
                        rnd,
                    )
                )
        if rnd.random() < 0.35:  # a refusal now and then
            status, error = rnd.choice(REFUSALS)
            key, owner, provider, model = rnd.choice(HISTORY_MIX)[:4]
            if error == "unauthorized":
                key, owner = None, None
            line = _line(
                start + rnd.random() * 3600, key, owner, provider, model, None, None, None, None, None, None, rnd
            )
            line.update(status=status, error_type=error)
            if error == "dlp_blocked":
                line["dlp"] = {
                    "mode": "block",
                    "action": "block",
                    "findings": {rnd.choice(["EMAIL_ADDRESS", "PHONE_NUMBER"]): 1},
                }
            lines.append(line)
        if rnd.random() < 0.2:  # a DLP finding logged
            lines[-1]["dlp"] = {
                "mode": "log",
                "action": "log",
                "findings": {rnd.choice(["EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN"]): 1},
            }
    lines.sort(key=lambda r: r["ts"])
    return lines


def _line(t, key, owner, provider, model, inp, out, cost, latency, ttfb, gateway, rnd) -> dict:
    return {
        "ts": _iso(t),
        "request_id": uuid.UUID(int=rnd.getrandbits(128)).hex,
        "key_id": key,
        "owner": owner,
        "provider": provider,
        "endpoint": "/v1/chat/completions",
        "model": model,
        "status": 200,
        "stream": False,
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_tokens": 0 if inp else None,
        "cache_write_tokens": 0 if inp else None,
        "reasoning_tokens": 0 if inp else None,
        "usage_source": "provider" if inp else "none",
        "cost_usd": cost,
        "latency_ms": None if latency is None else round(latency, 3),
        "ttfb_ms": None if ttfb is None else round(ttfb, 3),
        "gateway_ms": None if gateway is None else round(gateway, 3),
        "bytes_sent": 900 if inp else 200,
        "masked_key": None,
        "error_type": None,
        "dlp": None,
    }


def write_history(path: Path, lines: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))


def attempt(fn, *args, **kw) -> int:
    """A request the gateway may refuse: its status (200 when it passed)."""
    try:
        result = fn(*args, **kw)
        if hasattr(result, "__next__"):
            for _ in result:
                pass
    except (openai.APIStatusError, anthropic.APIStatusError) as e:
        return e.status_code
    return 200


def live_traffic(gw: Gateway) -> Counter:
    """Requests through the SDKs; the statuses they got."""
    got: Counter = Counter()
    web = oai(gw, key=K["web"])
    for _ in range(3):
        got[attempt(web.chat.completions.create, model="gpt-4o-mini", messages=HI)] += 1
    got[
        attempt(
            web.chat.completions.create,
            model="gpt-4o",
            messages=HI,
            stream=True,
            stream_options={"include_usage": True},
        )
    ] += 1
    c = claude(gw, K["web"])
    for _ in range(2):
        got[attempt(c.messages.create, model="claude-haiku-4-5", max_tokens=16, messages=HI)] += 1
    g = gemini(gw, K["web"])
    g.models.generate_content(model="gemini-2.5-flash", contents="hello")
    got[200] += 1
    analytics = oai(gw, key=K["analytics"])
    got[attempt(analytics.chat.completions.create, model="gpt-4o-mini", messages=HI)] += 1
    got[attempt(analytics.chat.completions.create, model="gpt-4o", messages=HI)] += 1  # model rule: 403
    batch = oai(gw, key=K["batch"])
    got[attempt(batch.chat.completions.create, model=QUOTED_MODEL, messages=HI)] += 1
    for _ in range(5):  # rpm 4: the fifth or so is refused
        got[attempt(batch.chat.completions.create, model="gpt-4o-mini", messages=HI)] += 1
    xss = oai(gw, key=K["xss"])
    got[attempt(xss.chat.completions.create, model="gpt-4o-mini", messages=HI)] += 1
    got[
        attempt(
            xss.chat.completions.create, model="gpt-4o-mini", messages=[{"role": "user", "content": f"mail {EMAIL}"}]
        )
    ] += 1
    support = claude(gw, K["support"])
    got[attempt(support.messages.create, model="claude-haiku-4-5", max_tokens=16, messages=HI)] += 1
    for i in range(2):
        got[
            attempt(
                oai(gw, key=f"sk-test-console-unknown-{i}-0123456789").chat.completions.create,
                model="gpt-4o-mini",
                messages=HI,
            )
        ] += 1
    return got


def settle(gw: Gateway, count: int) -> list[dict]:
    """The JSONL once it holds ``count`` lines and the rollups have them too."""
    wait_for(lambda: len(gw.stats_lines()) >= count, timeout=15, what=f"{count} stats lines")
    return gw.stats_lines()
