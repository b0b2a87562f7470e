"""The web console in a real browser: Debian's Chromium driven by Playwright, against the real gateway.

One gateway for the module: five weeks of stats history in the JSONL before it
starts (its rollups are built from them), then live requests through the SDKs
(several keys, owners, models and providers; refusals by model rule, rpm,
budget, DLP and unknown keys). The tests sign in as the admin and as a key and
check that the pages show what the usage API and the JSONL say, that charts
draw, that CSV export gives the table, that hostile names stay text, that a key
sees only itself, and that the browser logs no error. The admin test writes the
screenshots in docs/ui/.
"""

from __future__ import annotations

import csv
import io
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from playwright.sync_api import sync_playwright

from lmgate.metrics.labels import REFUSAL_REASONS
from tests.e2e import console_traffic as traffic
from tests.e2e.console_traffic import ADMIN, QUOTED_MODEL, XSS_OWNER, K
from tests.e2e.harness import Gateway
from tests.e2e.test_gateway import raw_request

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",  # else Chromium calls Google and logs the refusal
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "docs" / "ui"
PAGES = ("overview", "spend", "budgets", "keys", "latency", "refusals")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
BLUE = (59, 111, 212)  # charts.js PALETTE[0], the first series' colour

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed: scripts/test.sh does")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium (Playwright's own builds cannot be downloaded here), for this module only: Playwright's
    sync API runs an event loop in this thread while it is open, which the asyncio tests after it must not find
    (so not pytest-playwright's session-wide ``browser``)."""
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def console(fake, tmp_path_factory):
    fake.clear()
    fake.chunk_delay = 0.01
    gw = Gateway(tmp_path_factory.mktemp("console"), fake.base_url, traffic.SETTINGS, env={"PYTHONPATH": str(REPO)})
    history = traffic.history(time.time())
    traffic.write_history(gw.stats_path, history)
    gw.write_allowlist(traffic.ROWS, wait=False)
    with gw:
        gw.start()
        statuses = traffic.live_traffic(gw)
        assert {200, 401, 403, 429} <= set(statuses), statuses
        gw.lines = traffic.settle(gw, len(history) + sum(statuses.values()))
        time.sleep(0.3)  # the writer's flush hands the lines to the rollups right after the file
        yield gw


class Watched:
    """A page whose console errors, uncaught exceptions and dialogs are recorded (a dialog fails the test)."""

    def __init__(self, context, gw: Gateway) -> None:
        self.page = context.new_page()
        self.gw = gw
        self.errors: list[str] = []
        self.requests: list = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("dialog", self._dialog)
        self.page.on("request", lambda r: self.requests.append(r))

    def _dialog(self, dialog) -> None:
        self.errors.append(f"a dialog opened: {dialog.message}")
        dialog.dismiss()

    def sign_in(self, token: str) -> None:
        self.page.goto(self.gw.url + "/lmgate/ui/")
        self.page.fill("#token", token)
        self.page.click("#sign-in-form button[type=submit]")

    def open(self, name: str, query: str = "") -> None:
        self.page.goto(f"{self.gw.url}/lmgate/ui/#/{name}{'?' + query if query else ''}")
        self.page.wait_for_selector(f'#main[data-ready="1"][data-page="{name}"]', timeout=15_000)
        assert not self.page.locator(".error-card[role=alert]").count(), self.page.inner_text("#main")

    def cells(self, card_title: str) -> list[list[str]]:
        rows = self.page.locator(f'section.card:has(h2:text-is("{card_title}")) tbody tr')
        return [[c.strip() for c in r.locator("td").all_inner_texts()] for r in rows.all()]

    def painted(self, selector: str, rgb: tuple[int, int, int] = BLUE) -> int:
        """Pixels of colour ``rgb`` on the canvases under ``selector``: what the chart drew."""
        return self.page.evaluate(
            """([sel, [r, g, b]]) => {
                let n = 0;
                for (const c of document.querySelectorAll(sel + " canvas")) {
                    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                    for (let i = 0; i < d.length; i += 4)
                        if (Math.abs(d[i] - r) < 4 && Math.abs(d[i + 1] - g) < 4 && Math.abs(d[i + 2] - b) < 4) n++;
                }
                return n;
            }""",
            [selector, list(rgb)],
        )


def api(gw: Gateway, path: str, token: str = ADMIN):
    resp, data = raw_request(gw, "GET", path, headers={"Authorization": f"Bearer {token}"})
    return resp.status, orjson.loads(data)


def iso_day(days_ago: int = 0) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%d")


def since(lines: list[dict], day: str) -> list[dict]:
    return [r for r in lines if r["ts"] >= f"{day}T00:00:00"]


def usd_text(v: float) -> str:
    """console's format.usd for amounts of a cent or more."""
    return f"${v:,.2f}"


def count(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_console_files_come_with_security_headers(console):
    for path, kind in (("/lmgate/ui/", "text/html"), ("/lmgate/ui/js/app.js", "text/javascript")):
        with urllib.request.urlopen(console.url + path) as r:
            headers = r.headers
            assert headers["Content-Type"].startswith(kind)
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"


def test_the_api_wants_a_known_token_and_a_key_sees_only_its_own_key(console):
    for headers in ({}, {"Authorization": "Bearer sk-nobody-0123456789"}):
        resp, data = raw_request(console, "GET", "/lmgate/v1/console/overview", headers=headers)
        assert resp.status == 401 and orjson.loads(data)["error"]["type"] == "authentication_error"
    assert api(console, "/lmgate/v1/console/whoami", K["batch"]) == (
        200,
        {"scope": "key", "key_id": "batch-jobs", "owner": "platform"},
    )
    status, own = api(console, "/lmgate/v1/console/spend?since=30d&by=key_id", K["batch"])
    assert status == 200 and [r["key_id"] for r in own["rows"]] == ["batch-jobs"]
    status, err = api(console, "/lmgate/v1/console/spend?since=30d&key_id=web-app", K["batch"])
    assert status == 400 and err["error"]["message"].startswith("lmgate: key_id: only the admin")
    _, keys = api(console, "/lmgate/v1/console/keys", K["batch"])
    assert [k["id"] for k in keys["rows"]] == ["batch-jobs"]
    _, recent = api(console, "/lmgate/v1/console/refusals/recent?limit=500", K["batch"])
    assert recent["total"] > 0 and {r["key_id"] for r in recent["rows"]} == {"batch-jobs"}
    _, budgets = api(console, "/lmgate/v1/console/budgets", K["support"])
    assert [(b["scope"], b["key_id"]) for b in budgets["rows"]] == [("key", "support-bot")]
    _, everyone = api(console, "/lmgate/v1/console/keys")
    assert {k["id"] for k in everyone["rows"]} == {row[0] for row in traffic.ROWS}
    other = {k["id"]: k["other_limits"] for k in everyone["rows"] if k["other_limits"]}
    assert other == {"analytics": {"max_model_chars": "64"}}  # the toy policy's column; lmgate's own are named
    assert all(set(k) & {"api_key", "key_hash", "upstream_key", "client_secret"} == set() for k in everyone["rows"])
    for bad in ("step=week", "by=colour", "limit=-1", "since=", "since=1d&since=2d", "step=hour&since=90d"):
        status, err = api(console, f"/lmgate/v1/console/spend?{bad}")
        assert status == 400 and err["error"]["type"] == "invalid_request_error", (bad, err)


def test_admin_pages_show_what_the_usage_api_and_the_jsonl_say(console, browser):
    lines = console.lines
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    w = Watched(context, console)
    w.sign_in(ADMIN)
    w.page.wait_for_selector('#main[data-ready="1"][data-page="overview"]')
    assert w.page.inner_text("#who") == "Admin · all keys"

    # overview: today's spend and requests = the usage API = the JSONL
    today = since(lines, iso_day())
    _, usage = api(console, f"/lmgate/v1/usage?since={iso_day()}&group_by=")
    spent = w.page.get_attribute('[data-period="today"][data-metric="cost_usd"] .tile-value', "data-value")
    requests = w.page.inner_text('[data-period="today"][data-metric="requests"] .tile-value')
    assert float(spent) == pytest.approx(usage["rows"][0]["cost_usd"], abs=1e-9)
    assert float(spent) == pytest.approx(sum(r["cost_usd"] or 0 for r in today), abs=1e-9)
    assert count(requests) == usage["rows"][0]["requests"] == len(today)
    assert w.painted("#overview-chart") > 200

    # spend by owner over 30 whole days: table = usage API = JSONL; the chart drew; the CSV is the table
    first = iso_day(30)
    w.open("spend", f"range=custom&from={first}&by=owner")
    shown = {row[0]: row for row in w.cells("Per owner")}
    _, usage = api(console, f"/lmgate/v1/usage?since={first}&group_by=owner")
    assert len(shown) == len(usage["rows"]) >= 4
    for row in usage["rows"]:
        name = row["owner"] or "(none)"
        jsonl = [r for r in since(lines, first) if (r["owner"] or "(none)") == name]
        assert count(shown[name][1]) == row["requests"] == len(jsonl)
        assert row["cost_usd"] == pytest.approx(sum(r["cost_usd"] or 0 for r in jsonl), abs=1e-9)
        if row["cost_usd"] >= 0.01:
            assert shown[name][4] == usd_text(row["cost_usd"])
    assert w.painted("#spend-chart") > 500
    with w.page.expect_download() as download:
        w.page.click("#csv")
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    by_owner = {r["owner"] or "(none)": r for r in usage["rows"]}
    assert {r["owner"] for r in exported} == set(shown)
    for r in exported:
        assert int(r["requests"]) == by_owner[r["owner"]]["requests"]
        assert float(r["cost_usd"]) == pytest.approx(by_owner[r["owner"]]["cost_usd"], abs=1e-9)

    # refusals and DLP over the same days: = the JSONL
    w.open("refusals", f"range=custom&from={first}")
    window = since(lines, first)
    refused = [r for r in window if r["error_type"] in REFUSAL_REASONS]
    sub = w.page.inner_text('section.card:has(h2:text-is("Refusals by reason")) .fine')
    assert sub.startswith(f"{len(refused):,} of {len(window):,} requests"), sub
    findings = sum(n for r in window if r["dlp"] for n in r["dlp"]["findings"].values())
    dlp_rows = w.page.locator('section.card:has(h2:text-is("DLP findings by entity type")) .hbar-row .num')
    assert sum(count(t) for t in dlp_rows.all_inner_texts()) == findings > 0
    assert w.painted("#refusals-chart") > 100
    latest = w.cells("Latest refusals")
    assert len(latest) == 25 and "Unknown or missing key" in {row[-1] for row in latest}

    # latency: the three charts draw; the table has every provider/model that had answers
    w.open("latency", "range=7d&step=hour")
    assert w.painted("#latency-latency") > 100
    models = {row[0].split("\n")[0] for row in w.cells("Per provider and model")}
    assert {"gpt-4o-mini-2024-07-18", "claude-haiku-4-5-20251001", "gemini-2.5-flash", QUOTED_MODEL} <= models

    w.open("budgets")
    budgets = {row[0].split("\n")[0].split("\u00a0")[-1].strip(): row for row in w.cells("3 budgets")}
    assert set(budgets) == {"support-bot", "web-app", "research"}
    w.open("keys")
    keys = w.cells("5 keys")
    assert [row[0] for row in keys] == sorted(row[0] for row in traffic.ROWS)
    # a column of a policy from policies.extra is listed by its name with the key's limits (read-only here)
    analytics = next(row for row in keys if row[0] == "analytics")
    assert any("max_model_chars 64" in c for c in analytics), analytics

    for name in PAGES:  # the screenshots of docs/ui/, desktop and phone
        w.open(name)
        w.page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=True)
    w.page.set_viewport_size(PHONE)
    for name in PAGES:
        w.open(name)
        w.page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
    assert w.errors == []
    assert not [r.url for r in w.requests if ADMIN in r.url], "the token never goes into a URL"
    assert all(r.headers.get("authorization") == f"Bearer {ADMIN}" for r in w.requests if "/v1/console/" in r.url)
    context.close()


def test_hostile_names_are_shown_as_text_and_run_nothing(console, browser):
    context = browser.new_context(viewport=DESKTOP)
    w = Watched(context, console)
    w.sign_in(ADMIN)
    w.open("spend", "range=7d&by=owner")
    assert XSS_OWNER in [row[0] for row in w.cells("Per owner")]
    w.open("keys")
    assert XSS_OWNER in [row[1] for row in w.cells("5 keys")]
    w.open("spend", "range=7d&by=model")
    assert QUOTED_MODEL in [row[0] for row in w.cells("Per model")]
    w.open("latency", f"model={quote('openai' + chr(0) + QUOTED_MODEL)}")
    assert QUOTED_MODEL in w.page.inner_text(".page-head")
    assert w.page.locator("#main img").count() == 0, "the owner's markup became an element"
    assert w.page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert w.errors == [], "no dialog, no error"
    context.close()


def test_a_key_signs_in_sees_only_its_own_key_and_signs_out(console, browser):
    context = browser.new_context(viewport=DESKTOP)
    w = Watched(context, console)
    w.sign_in(K["batch"])
    w.page.wait_for_selector('#main[data-ready="1"][data-page="overview"]')
    assert w.page.inner_text("#who") == "Key batch-jobs"
    others = [row[0] for row in traffic.ROWS if row[0] != "batch-jobs"] + ["research", "support"]
    for name, query in (("spend", "range=30d&by=key_id"), ("keys", ""), ("refusals", "range=30d"), ("budgets", "")):
        w.open(name, query)
        text = w.page.inner_text("#main")
        assert not [o for o in others if o in text], (name, text[:400])
    w.open("spend", "range=30d&by=key_id")
    assert [row[0] for row in w.cells("Per key")] == ["batch-jobs"]
    _, mine = api(console, "/lmgate/v1/usage?since=30d&group_by=", K["batch"])
    assert count(w.cells("Per key")[0][1]) == mine["rows"][0]["requests"]
    w.open("keys")
    assert [row[0] for row in w.cells("1 key")] == ["batch-jobs"]
    assert w.page.evaluate("sessionStorage.length") == 1
    w.page.click("#sign-out")
    assert w.page.is_visible("#sign-in-form") and w.page.evaluate("sessionStorage.length") == 0
    assert w.page.inner_text("#main") == ""
    assert w.errors == []
    context.close()


def test_a_wrong_token_gets_the_sign_in_form_again(console, browser):
    context = browser.new_context(viewport=PHONE)
    w = Watched(context, console)
    w.sign_in("sk-not-on-the-list-0123456789")
    w.page.wait_for_selector("#sign-in-error:not([hidden])")
    assert "neither the admin token nor a key" in w.page.inner_text("#sign-in-error")
    assert w.page.evaluate("sessionStorage.length") == 0 and not w.page.is_visible(".topbar")
    assert w.page.locator("#main").inner_text() == ""
    w.page.screenshot(path=str(SHOTS / "sign-in-phone.png"))
    # the browser reports the 401 answer itself; nothing else went wrong
    assert [e for e in w.errors if "401" not in e] == []
    context.close()
