"""`lmgate keys …` and `lmgate prices show`, run as the CLI runs them: the key printed once, flags named in errors."""

from __future__ import annotations

import orjson
import pytest
import yaml

from lmgate import cli_keys
from lmgate.cli import main
from lmgate.keyring import editable
from lmgate.policies.registry import POLICIES

FILE = "# team keys\nid,api_key,owner,added\nlegacy,sk-test-legacy-0123456789,team,2026-01-01\n"


@pytest.fixture
def lmgate(tmp_path, monkeypatch, capsys):
    allowlist = tmp_path / "allowlist.csv"
    allowlist.write_text(FILE)
    config = tmp_path / "lmgate.yaml"
    config.write_text(
        yaml.safe_dump({"allowlist": {"path": str(allowlist)}, "audit": {"path": str(tmp_path / "audit.jsonl")}})
    )
    monkeypatch.setenv("LMGATE_CONFIG", str(config))

    def run(*args: str) -> tuple[int, str]:
        code = main(["--config", str(config), *args])
        return code, capsys.readouterr().out

    run.allowlist = allowlist
    run.audit = tmp_path / "audit.jsonl"
    return run


def test_create_prints_the_key_once_and_list_show_never(lmgate):
    code, out = lmgate("keys", "create", "--id", "ci-bot", "--owner", "platform", "--rpm", "60", "--format", "json")
    assert code == 0
    created = orjson.loads(out)
    key = created["key"]
    assert key.startswith("lmg-") and created["rpm"] == 60 and created["owner"] == "platform"
    code, table = lmgate("keys", "create", "--id", "other", "--owner", "x", "--expires", "2099-01-31")
    assert code == 0 and "This is the only time the key is shown" in table
    code, listed = lmgate("keys", "list")
    assert code == 0
    assert listed.splitlines()[0].split() == [
        "id", "owner", "models", "rpm", "tpm", "budget", "max_parallel", "dlp", "expires", "state", "added",
    ]  # fmt: skip
    assert "ci-bot" in listed and "2099-02-01T00:00:00Z" in listed and "legacy" in listed
    _, as_csv = lmgate("keys", "list", "--format", "csv")
    _, as_json = lmgate("keys", "list", "--format", "json")
    _, shown = lmgate("keys", "show", "ci-bot")
    assert [v["id"] for v in orjson.loads(as_json)] == ["legacy", "ci-bot", "other"]
    assert as_csv.splitlines()[2].startswith("ci-bot,platform,,60,,,,,,active,")
    for text in (listed, as_csv, as_json, shown, lmgate.audit.read_text()):
        assert key not in text and "sk-test-legacy" not in text and "sha256" not in text
    assert key not in lmgate.allowlist.read_text()


def test_update_rotate_revoke(lmgate):
    assert lmgate("keys", "update", "legacy", "--disabled", "true", "--models", "gpt-4o*")[0] == 0
    code, out = lmgate("keys", "show", "legacy", "--format", "json")
    assert orjson.loads(out)["disabled"] is True and orjson.loads(out)["models"] == ["gpt-4o*"]
    code, out = lmgate("keys", "rotate", "legacy", "--grace", "1h", "--format", "json")
    rotated = orjson.loads(out)
    assert code == 0 and rotated["key"].startswith("lmg-") and rotated["previous_key_expires"]
    assert "sk-test-legacy-0123456789" not in lmgate.allowlist.read_text()  # hashed by the rotation
    code, out = lmgate("keys", "list")
    assert "disabled" in out
    assert lmgate("keys", "revoke", "legacy")[0] == 0
    assert "legacy" not in lmgate.allowlist.read_text() and lmgate.allowlist.read_text().startswith("# team keys\n")
    actions = [orjson.loads(line)["action"] for line in lmgate.audit.read_text().splitlines()]
    assert actions == ["update", "rotate", "revoke"]
    assert all(orjson.loads(line)["actor"].startswith("cli:") for line in lmgate.audit.read_text().splitlines())


def test_set_takes_any_editable_column_beside_the_named_flags(lmgate):
    args = ("--set", "rpm=7", "--set", " models = gpt-4o* ", "--tpm", "900", "--set", "dlp=block", "--format", "json")
    code, out = lmgate("keys", "update", "legacy", *args)
    assert code == 0
    shown = orjson.loads(out)
    assert (shown["rpm"], shown["models"], shown["tpm"], shown["dlp"]) == (7, ["gpt-4o*"], 900, "block")
    assert lmgate("keys", "update", "legacy", "--set", "rpm=")[0] == 0  # an empty value clears, as with --rpm ''
    code, out = lmgate(
        "keys", "create", "--id", "via-set", "--owner", "o", "--set", "max_parallel=2", "--format", "json"
    )
    assert code == 0 and orjson.loads(out)["max_parallel"] == 2
    code, out = lmgate("keys", "show", "legacy", "--format", "json")
    assert orjson.loads(out)["rpm"] is None


def test_the_named_flags_are_lmgates_own_editable_fields():
    extra = {s.name for p in POLICIES[4:] for s in p.settings}  # an e2e test may have added tests/e2e/toy_policy.py
    assert set(cli_keys._HELP) == set(editable()) - extra


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("keys", "create", "--id", "a,b", "--owner", "o"), 2, "--id: 'a,b' is not a key id"),
        (("keys", "create", "--id", "a", "--owner", "o", "--rpm", "-1"), 2, "--rpm: '-1' is not a positive integer"),
        (("keys", "create", "--id", "a", "--owner", "o", "--models", "gpt 4"), 2, "--models: 'gpt 4' contains a space"),
        (("keys", "create", "--id", "a", "--owner", "o", "--budget-period", "week"), 2, "--budget-period: 'week'"),
        (
            ("keys", "create", "--id", "a", "--owner", "o", "--expires", "2001-01-01"),
            2,
            "'2001-01-01' is in the past",
        ),
        (("keys", "create", "--id", "legacy", "--owner", "o"), 1, "a key with id 'legacy' exists"),
        (("keys", "update", "nobody", "--rpm", "5"), 1, "no key with id 'nobody'"),
        (("keys", "update", "legacy"), 2, "nothing to change"),
        (("keys", "update", "legacy", "--set", "rpm"), 2, "--set: 'rpm' is not COLUMN=VALUE (known columns: owner,"),
        (("keys", "update", "legacy", "--set", "=5"), 2, "--set: '=5' is not COLUMN=VALUE"),
        (("keys", "update", "legacy", "--set", "colour=red"), 2, "--set colour: unknown field; known: owner, models"),
        (("keys", "update", "legacy", "--set", "rpm=-1"), 2, "--set rpm: '-1' is not a positive integer"),
        (("keys", "update", "legacy", "--set", "budget_period=day"), 2, "--set budget_period: set without budget_usd"),
        (("keys", "update", "legacy", "--rpm", "5", "--set", "rpm=6"), 2, "--set: 'rpm' is given twice"),
        (("keys", "update", "legacy", "--set", "rpm=5", "--set", "rpm=6"), 2, "--set: 'rpm' is given twice"),
        (("keys", "create", "--id", "a", "--owner", "o", "--set", "id=b"), 2, "--set id: unknown field"),
        (("keys", "rotate", "legacy", "--grace", "forever"), 2, "--grace: cannot read 'forever' as a duration"),
        (("keys", "revoke", "nobody"), 1, "no key with id 'nobody'"),
        (("prices", "show", "no-such-model"), 1, "no price for 'no-such-model'"),
        (("prices", "show", "gpt-4o", "--provider", "nope"), 2, "--provider: 'nope' is not configured"),
    ],
)
def test_bad_input_names_the_flag_and_changes_nothing(lmgate, caplog, args, code, says):
    assert lmgate(*args)[0] == code
    assert says in caplog.text
    assert lmgate.allowlist.read_text() == FILE and not lmgate.audit.exists()


def test_prices_show(lmgate):
    code, out = lmgate("prices", "show", "gpt-4o-2024-08-06")
    assert code == 0
    assert out.splitlines()[0] == "gpt-4o-2024-08-06 is priced as gpt-4o (openai, chat), behind openai, azure"
    assert (
        "    input        2.5\n" in out and "    output       10\n" in out and "context: 128,000 in, 16,384 out" in out
    )
    code, out = lmgate("prices", "show", "claude-sonnet-4-5", "--provider", "bedrock", "--format", "json")
    (card,) = orjson.loads(out)
    assert card["providers"] == ["bedrock"] and card["input_per_mtok"] == 3.0 and card["max_input_tokens"] == 200_000
