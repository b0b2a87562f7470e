import os

import pytest

from lmgate import config
from lmgate.config import load_config
from lmgate.errors import ConfigError


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config/lmgate.yaml here
    c = load_config(environ={})
    assert c.server.port == 8080
    assert c.sidecar.host == "127.0.0.1"
    assert int(c.server.max_body_size) == 32 * 1024**2
    assert c.providers["openai"].upstream == "https://api.openai.com"
    assert c.providers["anthropic"].prefix == "/anthropic"


def test_yaml_then_env_overlay(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("server:\n  port: 9000\nproviders:\n  groq:\n    upstream: https://api.groq.com/openai/\n")
    env = {
        "LMGATE_SIDECAR__PORT": "9100",
        "LMGATE_PROVIDERS__OPENAI__UPSTREAM": "http://127.0.0.1:1234",
        "LMGATE_PROVIDERS__VLLM__UPSTREAM": "http://10.0.0.5:8000",
        "LMGATE_STATS__MAX_BYTES": "10MiB",
    }
    c = load_config(f, env)
    assert c.server.port == 9000
    assert c.sidecar.port == 9100
    assert c.providers["openai"].upstream == "http://127.0.0.1:1234"
    assert c.providers["groq"].kind == "openai_compat"
    assert c.providers["groq"].upstream == "https://api.groq.com/openai"
    assert c.providers["vllm"].prefix == "/vllm"
    assert int(c.stats.max_bytes) == 10 * 1024**2


def test_lmgate_config_env_names_the_file(tmp_path):
    f = tmp_path / "other.yaml"
    f.write_text("sidecar:\n  port: 7000\n")
    assert load_config(environ={"LMGATE_CONFIG": str(f)}).sidecar.port == 7000


def test_a_default_provider_can_be_switched_off(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("providers:\n  azure: ~\n")
    assert "azure" not in load_config(f, {}).providers


@pytest.mark.parametrize(
    ("yaml_text", "env", "message"),
    [
        ("server:\n  port: [1\n", {}, "invalid YAML"),
        ("server:\n  prot: 1\n", {}, "server.prot: unknown key"),
        ("server:\n  port: 70000\n", {}, "server.port: Input should be less than or equal to 65535"),
        ("", {"LMGATE_SERVER__PORT": "abc"}, "server.port: Input should be a valid integer"),
        ("providers:\n  x:\n    upstream: ftp://a\n", {}, "providers.x.upstream: 'ftp://a' is not an http(s) URL"),
        ("providers:\n  x:\n    kind: nope\n    upstream: http://a\n", {}, "unknown provider kind 'nope'"),
        ("providers:\n  x:\n    upstream: http://a\n    prefix: /openai\n", {}, "prefix /openai is also used"),
        ("policies:\n  budget_mode: hold\n", {}, "policies.budget_mode: Input should be 'reserve' or 'settle'"),
        ("- a\n- b\n", {}, "top level must be a mapping"),
    ],
)
def test_bad_config_names_the_key(tmp_path, yaml_text, env, message):
    f = tmp_path / "c.yaml"
    f.write_text(yaml_text)
    with pytest.raises(ConfigError) as e:
        load_config(f, env)
    assert message in str(e.value)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml", {})


def test_shipped_config_file_is_valid_and_matches_the_defaults(monkeypatch, tmp_path):
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "config" / "lmgate.yaml"
    from_file = load_config(shipped, {})
    monkeypatch.chdir(tmp_path)
    assert from_file == load_config(environ={})


def test_the_stats_spool_defaults_to_memory_one_per_gateway(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one = load_config(environ={"LMGATE_SERVER__RUN_DIR": str(tmp_path / "a")}).spool_dir()
    other = load_config(environ={"LMGATE_SERVER__RUN_DIR": str(tmp_path / "b")}).spool_dir()
    assert one.parent == config.SHM and one.name.startswith(f"lmgate-{os.geteuid()}-")
    assert one != other  # two gateways on one host never share a spool


def test_the_stats_spool_without_dev_shm_is_in_run_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "SHM", tmp_path / "no-such-dir")
    assert load_config(environ={}).spool_dir() == tmp_path / "run" / "spool"


def test_a_configured_stats_spool_is_used_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={"LMGATE_STATS__SPOOL_DIR": "spool-here"}).spool_dir() == tmp_path / "spool-here"


def test_alert_webhooks_from_env_and_a_bad_one_is_named_without_its_secret(tmp_path):
    env = {"LMGATE_ALERTS__WEBHOOKS": "https://hooks.example/T1/B1/tok1 http://127.0.0.1:9/x"}
    f = tmp_path / "c.yaml"
    f.write_text("")
    assert load_config(f, env).alerts.webhooks == ["https://hooks.example/T1/B1/tok1", "http://127.0.0.1:9/x"]
    f.write_text("alerts:\n  webhooks: ['ftp://hooks.example/services/T1/secret-part']\n")
    with pytest.raises(ConfigError) as e:
        load_config(f, {})
    assert "alerts.webhooks" in str(e.value) and "not an http(s) URL" in str(e.value)
    assert "secret-part" not in str(e.value)
    f.write_text("alerts:\n  budget_thresholds: [80, 0]\n")
    with pytest.raises(ConfigError, match="budget_thresholds"):
        load_config(f, {})
    f.write_text("alerts:\n  budget_thresholds: [100, 50, 80, 80]\n")
    assert load_config(f, {}).alerts.budget_thresholds == [50, 80, 100]


def test_budget_mode_reserves_by_default_and_can_settle(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("")
    assert load_config(f, {}).policies.budget_mode == "reserve"
    assert load_config(f, {"LMGATE_POLICIES__BUDGET_MODE": "settle"}).policies.budget_mode == "settle"


# --- a provider's own fields: checked by its module's settings model (Bedrock's region, aws, owner_aws)


def test_bedrock_fields_are_its_modules_settings_and_derive_its_upstream(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("providers:\n  bedrock:\n    region: eu-west-1\n    owner_aws:\n      team-a: {profile: team-a}\n")
    p = load_config(f, {"LMGATE_PROVIDERS__BEDROCK__AWS__PROFILE": "gateway"}).providers["bedrock"]
    assert p.upstream == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    assert (p.settings.region, p.settings.aws.profile, p.settings.owner_aws["team-a"].profile) == (
        "eu-west-1",
        "gateway",
        "team-a",
    )


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("providers:\n  b2:\n    kind: bedrock\n", "providers.b2: region: Field required"),
        ("providers:\n  openai:\n    region: us-east-1\n", "region: not a setting of kind openai"),
        ("providers:\n  bedrock:\n    regoin: us-east-1\n", "regoin: not a setting of kind bedrock"),
        ("providers:\n  bedrock:\n    region: mars-1\n", "region: String should match pattern"),
        (
            "providers:\n  bedrock:\n    region: eu-west-1\n    upstream: https://bedrock-runtime.us-east-1.amazonaws.com\n",
            "upstream is in us-east-1 but region is eu-west-1: signatures would fail",
        ),
        (
            "providers:\n  bedrock:\n    aws: {access_key_id: AKIAX}\n",
            "access_key_id and secret_access_key go together",
        ),
        ("providers:\n  x:\n    kind: tests.no_such_module\n    upstream: http://a\n", "cannot be imported"),
    ],
)
def test_a_providers_own_fields_are_checked_by_its_module(tmp_path, yaml_text, message):
    f = tmp_path / "c.yaml"
    f.write_text(yaml_text)
    with pytest.raises(ConfigError) as e:
        load_config(f, {})
    assert message in str(e.value)


def test_a_kind_may_be_the_module_path_of_a_provider(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("providers:\n  toy:\n    kind: tests.e2e.toy_provider\n    upstream: http://127.0.0.1:9\n")
    assert load_config(f, {}).providers["toy"].kind == "toy"  # registered under its name


def test_fast_socket_defaults_into_the_spool_and_fast_port_is_its_alternative(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    c = load_config(empty, {"LMGATE_STATS__SPOOL_DIR": str(tmp_path / "spool")})
    assert c.sidecar.fast_port is None
    assert c.fast_socket() == (tmp_path / "spool" / "sidecar.sock").resolve()
    env = {"LMGATE_SIDECAR__FAST_SOCKET": str(tmp_path / "x.sock"), "LMGATE_SIDECAR__FAST_PORT": "8082"}
    with pytest.raises(ConfigError, match="set one"):
        load_config(empty, env)


def test_a_fast_socket_path_too_long_for_unix_is_refused_with_its_key(tmp_path):
    long = tmp_path / ("d" * 120) / "s.sock"
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    c = load_config(empty, {"LMGATE_SIDECAR__FAST_SOCKET": str(long)})
    with pytest.raises(ConfigError, match=r"sidecar\.fast_socket"):
        c.fast_socket()
