"""Secret references, their resolution and rotation, and where a real provider key goes."""

from __future__ import annotations

import os

import pytest

from lmgate.credentials import (
    AwsCredentialSource,
    SecretError,
    SecretRef,
    SecretResolver,
    is_ref,
    parse_ref,
)
from lmgate.providers import get as get_provider
from lmgate.providers import rewritable_headers
from lmgate.rewrite import UpstreamRewrite

REAL_KEY = "sk-proj-REAL-provider-key-0123456789"


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("env:OPENAI_API_KEY", SecretRef("env", "OPENAI_API_KEY")),
        (" env:_k1 ", SecretRef("env", "_k1")),
        ("ENV:Name", SecretRef("env", "Name")),
        ("file:secrets/openai", SecretRef("file", "secrets/openai")),
        ("file:secrets/relative key.txt", SecretRef("file", "secrets/relative key.txt")),
    ],
)
def test_parse_ref(text, ref):
    assert parse_ref(text) == ref
    assert str(ref) == f"{ref.scheme}:{ref.target}"
    assert is_ref(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (REAL_KEY, "env:NAME or file:PATH"),
        ("vault:" + REAL_KEY, "env:NAME or file:PATH"),
        ("env:", "environment variable name"),
        ("env:" + REAL_KEY, "environment variable name"),
        ("env:1ABC", "environment variable name"),
        ("file:", "path"),
        ("file:   ", "path"),
        ("", "env:NAME or file:PATH"),
    ],
)
def test_parse_ref_errors_never_repeat_the_text(text, message):
    with pytest.raises(ValueError, match=message) as e:
        parse_ref(text)
    assert REAL_KEY not in str(e.value)
    assert not is_ref(REAL_KEY)


def test_env_refs():
    r = SecretResolver(environ={"A": "value-a\n", "EMPTY": " "})
    assert r.resolve("env:A") == "value-a"
    assert r.resolve(SecretRef("env", "A")) == "value-a"
    with pytest.raises(SecretError, match="env:MISSING: the environment variable is not set"):
        r.resolve("env:MISSING")
    with pytest.raises(SecretError, match="env:EMPTY: the environment variable is empty"):
        r.resolve("env:EMPTY")


def test_file_ref_strips_the_newline_and_follows_rotation(tmp_path):
    secret = tmp_path / "key"
    secret.write_text(REAL_KEY + "\n")
    r = SecretResolver(check_interval=0)
    assert r.resolve(f"file:{secret}") == REAL_KEY
    secret.write_text("rotated-key\r\n")
    os.utime(secret, ns=(1, 1))  # a different mtime even on coarse-clock filesystems
    assert r.resolve(f"file:{secret}") == "rotated-key"


def test_file_ref_rotation_by_symlink_swap(tmp_path):
    """Kubernetes swaps a ..data symlink; the path stays, the file behind it changes."""
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    (tmp_path / "v1" / "key").write_text("one")
    (tmp_path / "v2" / "key").write_text("two")
    (tmp_path / "..data").symlink_to("v1")
    (tmp_path / "key").symlink_to("..data/key")
    r = SecretResolver(check_interval=0)
    assert r.resolve(f"file:{tmp_path / 'key'}") == "one"
    (tmp_path / "..data_tmp").symlink_to("v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    assert r.resolve(f"file:{tmp_path / 'key'}") == "two"


def test_file_ref_is_cached_between_checks(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("first")
    r = SecretResolver(check_interval=3600)
    assert r.resolve(f"file:{secret}") == "first"
    secret.write_text("second, longer")
    assert r.resolve(f"file:{secret}") == "first"  # not stat()ed again within the interval
    r.check_interval = 0
    assert r.resolve(f"file:{secret}") == "second, longer"


def test_file_ref_errors_name_the_ref_not_the_value(tmp_path):
    secret = tmp_path / "key"
    secret.write_text(REAL_KEY)
    r = SecretResolver(check_interval=0)
    assert r.resolve(f"file:{secret}") == REAL_KEY
    secret.unlink()
    with pytest.raises(SecretError) as e:
        r.resolve(f"file:{secret}")
    assert str(e.value).startswith(f"file:{secret}: cannot read") and REAL_KEY not in str(e.value)
    secret.write_text("\n")
    with pytest.raises(SecretError, match="is empty"):
        r.resolve(f"file:{secret}")
    secret.write_bytes(b"\xff\xfe")
    with pytest.raises(SecretError, match="not UTF-8"):
        r.resolve(f"file:{secret}")


@pytest.mark.parametrize(
    ("kind", "headers"),
    [
        ("openai", {"authorization": "Bearer K"}),
        ("openai_compat", {"authorization": "Bearer K"}),
        ("anthropic", {"x-api-key": "K"}),
        ("gemini", {"x-goog-api-key": "K"}),
        ("vertex", {"x-goog-api-key": "K"}),
        ("azure", {"api-key": "K"}),
    ],
)
def test_key_headers_of_each_provider(kind, headers):
    assert get_provider(kind).key_headers("K") == headers
    assert UpstreamRewrite(headers=get_provider(kind).key_headers("K")).headers == headers
    assert set(headers) <= set(rewritable_headers())


def test_a_provider_that_signs_has_no_key_header():
    with pytest.raises(ValueError, match="signed, not keyed"):
        get_provider("bedrock").key_headers("K")


def test_aws_credentials_from_refs(tmp_path):
    secret = tmp_path / "aws_secret"
    secret.write_text("aws-secret-value\n")
    r = SecretResolver(environ={"AKID": "AKIAFROMENV", "TOKEN": "session"}, check_interval=0)
    creds = AwsCredentialSource(r, "AKIALITERAL", SecretRef("file", str(secret))).get()
    assert (creds.access_key, creds.secret_key, creds.token) == ("AKIALITERAL", "aws-secret-value", None)
    creds = AwsCredentialSource(r, "env:AKID", SecretRef("file", str(secret)), SecretRef("env", "TOKEN")).get()
    assert (creds.access_key, creds.secret_key, creds.token) == ("AKIAFROMENV", "aws-secret-value", "session")
    secret.write_text("rotated")
    os.utime(secret, ns=(1, 1))
    assert AwsCredentialSource(r, "AKIALITERAL", SecretRef("file", str(secret))).get().secret_key == "rotated"


def test_aws_credentials_from_the_standard_chain(monkeypatch, tmp_path):
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    source = AwsCredentialSource(SecretResolver())
    assert source.uses_chain
    creds = source.get()
    assert (creds.access_key, creds.secret_key, creds.token) == ("AKIACHAIN", "chain-secret", None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access_key_id": "AKIA"},
        {"secret_access_key": SecretRef("env", "S")},
        {"session_token": SecretRef("env", "T")},
        {"access_key_id": "AKIA", "secret_access_key": SecretRef("env", "S"), "profile": "p"},
    ],
)
def test_aws_credential_source_validation(kwargs):
    with pytest.raises(ValueError):
        AwsCredentialSource(SecretResolver(), **kwargs)
