"""Key lifecycle end to end: `lmgate keys` and the admin API edit the allow-list the real gateway serves.

Keys made by either work through the OpenAI SDK within the reload interval; rotation keeps the old key
for its grace and refuses it after; revoked, expired and disabled keys are refused in the provider's shape;
50 concurrent edits from CLI processes and API calls all land, in the file and the audit log, while the
gateway keeps serving.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import openai
import orjson
import pytest

from lmgate.allowlist import parse_allowlist
from lmgate.pricing import PriceBook
from tests.e2e.conftest import ADMIN_TOKEN, KEYS
from tests.e2e.harness import wait_for
from tests.e2e.test_gateway import oai

ADMIN_ACTOR = "admin:" + hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()[:8]
MESSAGES = [{"role": "user", "content": "Say hello"}]


def api(gw, method: str, path: str = "", body: object = None, token: str = ADMIN_TOKEN, raw: bytes | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = raw if raw is not None else None if body is None else orjson.dumps(body)
    return httpx.request(method, f"{gw.url}/lmgate/v1/keys{path}", content=content, headers=headers, timeout=30)


def cli(gw, *args: str) -> subprocess.CompletedProcess:
    """``lmgate keys …`` with the gateway's config, from its directory (where data/audit.jsonl is)."""
    command = [sys.executable, "-m", "lmgate", "keys", *args]
    return subprocess.run(command, env=gw.env, cwd=gw.root, capture_output=True, text=True, timeout=120)


def cli_key(gw, *args: str) -> str:
    """Run a CLI command that prints a key (``--format json``); the key, once the sidecar has reloaded."""
    done = gw.reloaded_after(lambda: cli(gw, *args, "--format", "json"))
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)["key"]


def chat(gw, key: str, model: str = "gpt-4o-mini"):
    return oai(gw, key=key).chat.completions.with_raw_response.create(model=model, messages=MESSAGES)


def audit(gw) -> list[dict]:
    path = gw.root / "data" / "audit.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def works(gw, key: str) -> bool:
    try:
        chat(gw, key).parse()
    except openai.AuthenticationError:
        return False
    return True


def refusal_line(gw, err: openai.APIStatusError) -> dict:
    return gw.stats_for(err.response.headers["x-lmgate-request-id"])


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_keys_made_by_the_cli_and_the_api_work_through_the_openai_sdk(gw, fake):
    key = cli_key(gw, "create", "--id", "e2e-cli", "--owner", "qa")
    assert key.startswith("lmg-")
    chat(gw, key).parse()  # at once after the reload
    assert fake.received[-1].header("Authorization") == f"Bearer {key}"  # a pass-through key, as any other
    created = api(gw, "POST", body={"id": "e2e-api", "owner": "qa", "models": ["gpt-4o*"], "rpm": 100})
    assert created.status_code == 201, created.text
    api_key = created.json()["key"]
    resp = chat(gw, api_key)  # this sidecar reloaded before answering
    assert gw.stats_for(resp.headers["x-lmgate-request-id"])["key_id"] == "e2e-api"
    with pytest.raises(openai.PermissionDeniedError):  # its model rule is in force
        chat(gw, api_key, model="claude-sonnet-4-5")
    listed = api(gw, "GET")
    assert {k["id"] for k in listed.json()["keys"]} >= {"e2e-cli", "e2e-api", "team-openai"}
    assert api(gw, "GET", "/e2e-api").json()["rpm"] == 100
    logged = [(e["actor"], e["action"], e["id"]) for e in audit(gw)]
    assert (ADMIN_ACTOR, "create", "e2e-api") in logged
    assert any(a.startswith("cli:") and (act, i) == ("create", "e2e-cli") for a, act, i in logged)
    for shown in (listed.text, (gw.root / "data" / "audit.jsonl").read_text()):
        assert key not in shown and api_key not in shown and "sha256" not in shown


def test_rotation_keeps_the_old_key_for_the_grace_then_refuses_it(gw):
    old = api(gw, "POST", body={"id": "e2e-rot", "owner": "qa"}).json()["key"]
    rotated = api(gw, "POST", "/e2e-rot/rotate", {"grace": "3s"})
    assert rotated.status_code == 200, rotated.text
    new, ends = rotated.json()["key"], rotated.json()["previous_key_expires"]
    chat(gw, old).parse()
    chat(gw, new).parse()
    time.sleep(max(0.0, at(ends) - time.time()) + 0.05)  # no file write needed for the old key to stop
    with pytest.raises(openai.AuthenticationError) as err:
        chat(gw, old)
    assert "was replaced by a new key; its grace period ended at" in err.value.message
    line = refusal_line(gw, err.value)
    assert line["status"] == 401 and line["error_type"] == "key_expired" and line["key_id"] == "e2e-rot"
    chat(gw, new).parse()
    # the CLI rotates too, and without grace the old key stops at the next reload
    newest = cli_key(gw, "rotate", "e2e-rot", "--grace", "0")
    chat(gw, newest).parse()
    with pytest.raises(openai.AuthenticationError, match="not on this gateway's allow-list"):
        chat(gw, new)


def test_revoked_keys_are_refused(gw):
    one = api(gw, "POST", body={"id": "e2e-rev-api", "owner": "qa"}).json()["key"]
    two = cli_key(gw, "create", "--id", "e2e-rev-cli", "--owner", "qa")
    chat(gw, one).parse()
    chat(gw, two).parse()
    assert api(gw, "DELETE", "/e2e-rev-api").json()["revoked"]["id"] == "e2e-rev-api"
    with pytest.raises(openai.AuthenticationError, match="not on this gateway's allow-list"):
        chat(gw, one)
    assert gw.reloaded_after(lambda: cli(gw, "revoke", "e2e-rev-cli")).returncode == 0
    with pytest.raises(openai.AuthenticationError, match="not on this gateway's allow-list"):
        chat(gw, two)
    assert api(gw, "DELETE", "/e2e-rev-api").status_code == 404


def test_a_key_expiring_during_the_test_is_refused_saying_so_and_a_disabled_one_with_403(gw):
    expires = datetime.fromtimestamp(int(time.time()) + 3, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = cli_key(gw, "create", "--id", "e2e-exp", "--owner", "qa", "--expires", expires)
    chat(gw, key).parse()
    models = httpx.get(f"{gw.url}/lmgate/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 200
    time.sleep(max(0.0, at(expires) - time.time()) + 0.05)
    with pytest.raises(openai.AuthenticationError) as err:
        chat(gw, key)
    assert f"expired at {expires}" in err.value.message and err.value.status_code == 401
    assert refusal_line(gw, err.value)["error_type"] == "key_expired"
    models = httpx.get(f"{gw.url}/lmgate/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 401 and "expired" in models.json()["error"]["message"]
    listed = cli(gw, "list", "--format", "json")
    assert next(k for k in orjson.loads(listed.stdout) if k["id"] == "e2e-exp")["expired"] is True
    # disabled: 403, kept in the file, enabled again by a PATCH
    other = api(gw, "POST", body={"id": "e2e-off", "owner": "qa"}).json()["key"]
    assert api(gw, "PATCH", "/e2e-off", {"disabled": True}).json()["disabled"] is True
    with pytest.raises(openai.PermissionDeniedError) as err:
        chat(gw, other)
    assert "is disabled on this gateway" in err.value.message
    assert refusal_line(gw, err.value)["error_type"] == "key_disabled"
    assert "e2e-off" in gw.allowlist.read_text()
    api(gw, "PATCH", "/e2e-off", {"disabled": False})
    chat(gw, other).parse()


def test_fifty_concurrent_edits_from_cli_and_api_all_land_while_the_gateway_serves(gw):
    for i in range(6):  # keys the concurrent updates change
        assert api(gw, "POST", body={"id": f"e2e-upd-{i}", "owner": "qa"}).status_code == 201
    audit_before, log_before = len(audit(gw)), len(gw.sidecar_log())
    served, failed, stop = [], [], threading.Event()

    def load() -> None:
        client = oai(gw)
        while not stop.is_set():
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
                served.append(1)
            except Exception as e:  # every failure is reported below
                failed.append(repr(e))

    loaders = [threading.Thread(target=load) for _ in range(2)]
    for t in loaders:
        t.start()
    command = [sys.executable, "-m", "lmgate", "keys"]
    run = {"env": gw.env, "cwd": gw.root, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    processes = [
        subprocess.Popen([*command, "create", "--id", f"e2e-cli-{i}", "--owner", "qa", "--format", "json"], **run)
        for i in range(22)
    ] + [subprocess.Popen([*command, "update", f"e2e-upd-{i}", "--rpm", f"{100 + i}"], **run) for i in range(3)]
    calls = [("POST", "", {"id": f"e2e-api-{i}", "owner": "qa", "tpm": 1000 + i}) for i in range(22)]
    calls += [("PATCH", f"/e2e-upd-{i}", {"rpm": 100 + i}) for i in range(3, 6)]
    # the API's edits start once the CLIs' have begun (a process takes a while to start), so they interleave
    wait_for(lambda: len(audit(gw)) > audit_before, timeout=60, what="the first CLI edit")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda c: api(gw, *c), calls))
    outputs = [p.communicate(timeout=120) for p in processes]
    stop.set()
    for t in loaders:
        t.join()

    assert [p.returncode for p in processes] == [0] * 25, [err for _, err in outputs if err]
    assert [a.status_code for a in answers] == [201] * 22 + [200] * 3, [a.text for a in answers]
    entries = {e.id: e for e in parse_allowlist(gw.allowlist.read_text()).entries()}  # a valid file
    for i in range(22):
        assert f"e2e-cli-{i}" in entries and entries[f"e2e-api-{i}"].limits.tpm == 1000 + i
    assert [entries[f"e2e-upd-{i}"].limits.rpm for i in range(6)] == [100 + i for i in range(6)]
    changes = [(e["action"], e["id"]) for e in audit(gw)[audit_before:]]
    expected = [("create", f"e2e-{who}-{i}") for who in ("cli", "api") for i in range(22)]
    expected += [("update", f"e2e-upd-{i}") for i in range(6)]
    assert sorted(changes) == sorted(expected)
    actors = [e["actor"].partition(":")[0] for e in audit(gw)[audit_before:]]
    assert "cli" in actors[actors.index("admin") :], "the CLI and API edits did not overlap"
    updates = [e for e in audit(gw)[audit_before:] if e["action"] == "update"]
    assert all(e["changes"] == {"rpm": {"old": None, "new": str(100 + int(e["id"][-1]))}} for e in updates)
    # the gateway served throughout, and every new key works
    assert failed == [] and served
    assert "allow-list edit rejected" not in gw.sidecar_log()[log_before:]  # no reader saw a half-written file
    new_keys = [orjson.loads(out)["key"] for out, _ in outputs[:22]] + [a.json()["key"] for a in answers[:22]]
    wait_for(lambda: works(gw, new_keys[0]), timeout=10, what="the sidecar to load the last write")
    assert all(works(gw, key) for key in new_keys)


BAD = [
    ("POST", "", {"id": "a,b", "owner": "o"}, "id"),
    ("POST", "", {"id": "a\nb", "owner": "o"}, "id"),
    ("POST", "", {"id": 'q"uote', "owner": "o"}, "id"),
    ("POST", "", {"owner": "o"}, "id"),
    ("POST", "", {"id": "ok"}, "owner"),
    ("POST", "", {"id": "ok", "owner": "o", "colour": "red"}, "colour"),
    ("POST", "", {"id": "ok", "owner": "o", "api_key": "sk-mine"}, "api_key"),
    ("POST", "", {"id": "ok", "owner": "o", "models": "gpt 4o"}, "models"),
    ("POST", "", {"id": "ok", "owner": "o", "models": ["gpt-4o", "x;y"]}, "models"),
    ("POST", "", {"id": "ok", "owner": "o", "rpm": -5}, "rpm"),
    ("POST", "", {"id": "ok", "owner": "o", "max_parallel": 0}, "max_parallel"),
    ("POST", "", {"id": "ok", "owner": "o", "budget_usd": -1}, "budget_usd"),
    ("POST", "", {"id": "ok", "owner": "o", "budget_usd": 5, "budget_period": "week"}, "budget_period"),
    ("POST", "", {"id": "ok", "owner": "o", "budget_period": "day"}, "budget_period"),
    ("POST", "", {"id": "ok", "owner": "o", "expires": "yesterday"}, "expires"),
    ("POST", "", {"id": "ok", "owner": "o", "dlp": "maybe"}, "dlp"),
    ("POST", "", {"id": "ok", "owner": "o", "upstream_key": "sk-live-not-a-reference"}, "upstream_key"),
    ("POST", "", b"[1]", "body"),
    ("POST", "", b"{not json", "body"),
    ("POST", "", b'{"id": "a", "id": "b", "owner": "o"}', "body"),
    ("PATCH", "/team-openai", {"rpm": 0}, "rpm"),
    ("PATCH", "/team-openai", {}, "body"),
    ("PATCH", "/team-openai", {"owner": None}, "owner"),
    ("POST", "/team-openai/rotate", {"grace": "forever"}, "grace"),
    ("POST", "/team-openai/rotate", {"grace": -1}, "grace"),
    ("POST", "/team-openai/rotate", {"after": "1h"}, "after"),
    ("GET", "?owner=x", None, "owner"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD, ids=[f"{m} {p} {f}" for m, p, _, f in BAD])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(gw, method, path, body, field):
    before, audit_before = gw.allowlist.read_bytes(), audit(gw)
    raw = body if isinstance(body, bytes) else None
    answer = api(gw, method, path, None if raw else body, raw=raw)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == field
    assert error["message"].startswith(f"lmgate: {field}: "), error["message"]
    assert "sk-live-not-a-reference" not in answer.text and "sk-mine" not in answer.text
    assert gw.allowlist.read_bytes() == before and audit(gw) == audit_before


def test_only_the_admin_token_manages_keys(gw):
    for token in ("", KEYS["openai"], ADMIN_TOKEN + "x"):
        answer = api(gw, "GET", token=token)
        assert answer.status_code == 401 and answer.json()["error"]["type"] == "authentication_error"
    assert api(gw, "POST", body={"id": "team-openai", "owner": "o"}).status_code == 409
    for method, path in (("GET", "/nobody"), ("PATCH", "/nobody"), ("DELETE", "/nobody"), ("POST", "/nobody/rotate")):
        answer = api(gw, method, path, {"rpm": 5} if method == "PATCH" else None)
        assert answer.status_code == 404 and "no key with id 'nobody'" in answer.json()["error"]["message"]


def test_models_lists_what_the_key_may_use_with_prices_through_the_openai_sdk(gw):
    key = api(gw, "POST", body={"id": "e2e-models", "owner": "qa", "models": ["gpt-4o*"]}).json()["key"]
    page = openai.OpenAI(base_url=f"{gw.url}/lmgate/v1", api_key=key, max_retries=0).models.list()
    ids = [m.id for m in page.data]
    assert "gpt-4o" in ids and all(i.rsplit("/", 1)[-1].startswith("gpt-4o") for i in ids)
    card = next(m for m in page.data if m.id == "gpt-4o").model_dump()
    assert card["input_per_mtok"] == 2.5 and card["output_per_mtok"] == 10.0 and card["max_input_tokens"] == 128_000
    everything = httpx.get(f"{gw.url}/lmgate/v1/models", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert len(everything.json()["data"]) == len(PriceBook.load().models())
    unlimited = httpx.get(f"{gw.url}/lmgate/v1/models", headers={"x-api-key": KEYS["anthropic"]})
    assert len(unlimited.json()["data"]) == len(everything.json()["data"])  # no models rule: every priced model
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gw.url}/lmgate/v1", api_key="sk-nobody-0123456789", max_retries=0).models.list()
