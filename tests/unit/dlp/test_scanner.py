"""The scanner and the verdict in every mode, per provider format, within budgets, and without leaking values."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable

import orjson
import pytest

from lmgate.config import DlpConfig
from lmgate.dlp.scanner import NOT_JSON, SCANNER_ERROR, TIMEOUT, TOO_LARGE, DlpResult, DlpScanner
from lmgate.dlp.verdict import decide, stats_fields
from lmgate.providers import get
from lmgate.providers.base import ErrorKind
from tests.unit.dlp import samples as s

SECRET_TEXT = f"Hi, I'm Ada ({s.EMAIL}). Our deploy uses {s.AWS} and {s.CONNECTION_STRING}; café ☕"
CLEAN_TEXT = "Summarise the attached meeting notes in three bullet points."
REDACTED_TEXT = SECRET_TEXT.replace(s.EMAIL, "<EMAIL_ADDRESS>").replace(s.AWS, "<AWS_ACCESS_KEY>")
REDACTED_TEXT = REDACTED_TEXT.replace(s.DB_PASSWORD, "<CONNECTION_STRING_PASSWORD>")
FOUND = {"AWS_ACCESS_KEY": 1, "CONNECTION_STRING_PASSWORD": 1, "EMAIL_ADDRESS": 1}

# (provider kind, body with the secret text in every prompt field, paths of those fields)
BODIES = {
    "openai-chat": (
        "openai",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": CLEAN_TEXT},
                {"role": "user", "content": [{"type": "text", "text": SECRET_TEXT}]},
            ],
            "metadata": {"note": SECRET_TEXT},  # not read by the model: never scanned, never changed
        },
        [("messages", 1, "content", 0, "text")],
    ),
    "openai-responses": (
        "openai",
        {"model": "gpt-4.1", "instructions": SECRET_TEXT, "input": [{"role": "user", "content": SECRET_TEXT}]},
        [("instructions",), ("input", 0, "content")],
    ),
    "anthropic": (
        "anthropic",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "system": [{"type": "text", "text": SECRET_TEXT}],
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": CLEAN_TEXT}, {"type": "text", "text": SECRET_TEXT}],
                }
            ],
        },
        [("system", 0, "text"), ("messages", 0, "content", 1, "text")],
    ),
    "gemini": (
        "gemini",
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [{"text": SECRET_TEXT}, {"inlineData": {"mimeType": "image/png", "data": "QUJD"}}],
                }
            ]
        },
        [("contents", 0, "parts", 0, "text")],
    ),
}


@pytest.fixture
async def make_scanner() -> AsyncIterator[Callable[..., DlpScanner]]:
    made: list[DlpScanner] = []

    async def make(**overrides) -> DlpScanner:
        scanner = DlpScanner(DlpConfig(workers=0, **overrides))
        await scanner.start()
        made.append(scanner)
        return scanner

    yield make
    for scanner in made:
        await scanner.close()


def raw_body(doc: dict) -> bytes:
    """Pretty-printed with ASCII escapes, so raw and decoded offsets differ."""
    return json.dumps(doc, indent=2, ensure_ascii=True).encode()


def with_values(doc: dict, paths: list, value: str) -> dict:
    doc = orjson.loads(orjson.dumps(doc))
    for path in paths:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize("case", sorted(BODIES))
async def test_log_counts_and_allows(make_scanner, case):
    kind, doc, paths = BODIES[case]
    scanner = await make_scanner()
    result = await scanner.scan(kind, raw_body(doc), doc, "log")
    assert result.findings == {k: v * len(paths) for k, v in FOUND.items()}
    assert result.redacted_body is None and not result.skipped
    assert decide("log", result).action == "allow"


@pytest.mark.parametrize("case", sorted(BODIES))
async def test_block_names_types_not_values(make_scanner, case):
    kind, doc, _ = BODIES[case]
    scanner = await make_scanner()
    verdict = decide("block", await scanner.scan(kind, raw_body(doc), doc, "block"))
    assert verdict.action == "block"
    assert "AWS_ACCESS_KEY" in verdict.message and "EMAIL_ADDRESS" in verdict.message
    error = get(kind).error_body(403, verdict.message, ErrorKind.PERMISSION)
    for value in s.ALL_VALUES:
        assert value not in verdict.message and value.encode() not in error


@pytest.mark.parametrize("case", sorted(BODIES))
async def test_redact_changes_only_the_findings(make_scanner, case):
    kind, doc, paths = BODIES[case]
    raw = raw_body(doc)
    scanner = await make_scanner()
    verdict = decide("redact", await scanner.scan(kind, raw, doc, "redact"))
    assert verdict.action == "redact"
    assert orjson.loads(verdict.body) == with_values(doc, paths, REDACTED_TEXT)
    # outside the redacted strings the client's bytes are unchanged: the same escapes, the same indentation
    untouched = raw_body(with_values(doc, paths, "\x00"))
    for segment in untouched.split(b'"\\u0000"'):
        assert segment in verdict.body


async def test_redact_with_a_converse_like_provider(make_scanner, converse_provider):
    doc = {"system": [{"text": SECRET_TEXT}], "messages": [{"role": "user", "content": [{"text": CLEAN_TEXT}]}]}
    scanner = await make_scanner(placeholder="[{entity}]")
    verdict = decide("redact", await scanner.scan(converse_provider, raw_body(doc), doc, "redact"))
    assert orjson.loads(verdict.body)["system"][0]["text"] == REDACTED_TEXT.replace("<", "[").replace(">", "]")


async def test_clean_prompt_is_allowed_unchanged_in_every_mode(make_scanner):
    doc = {"messages": [{"role": "user", "content": CLEAN_TEXT}]}
    scanner = await make_scanner()
    for mode in ("log", "block", "redact"):
        result = await scanner.scan("openai", orjson.dumps(doc), doc, mode)
        assert result.findings == {} and result.redacted_body is None
        assert decide(mode, result).action == "allow"


async def test_a_prompt_no_entity_can_be_in_skips_presidio(make_scanner, monkeypatch):
    scanner = await make_scanner()

    def boom(text):
        raise AssertionError("presidio ran")

    monkeypatch.setattr(scanner._inline, "find", boom)
    doc = {"messages": [{"role": "system", "content": CLEAN_TEXT}, {"role": "user", "content": "  "}]}
    result = await scanner.scan("openai", orjson.dumps(doc), doc, "block")
    assert result.findings == {} and not result.skipped


async def test_off_does_not_scan(make_scanner):
    scanner = await make_scanner()
    scanner._inline = None  # would fail if used
    doc = {"messages": [{"role": "user", "content": SECRET_TEXT}]}
    result = await scanner.scan("openai", orjson.dumps(doc), doc, "off")
    assert result == DlpResult() and decide("off", result).action == "allow"
    assert stats_fields("off", result, decide("off", result)) == {"mode": "off"}


async def test_only_configured_types_count(make_scanner):
    scanner = await make_scanner(entities=["AWS_ACCESS_KEY"])
    doc = {"messages": [{"role": "user", "content": SECRET_TEXT}]}
    assert (await scanner.scan("openai", orjson.dumps(doc), doc, "block")).findings == {"AWS_ACCESS_KEY": 1}


async def test_threshold_filters_weak_findings(make_scanner):
    doc = {"messages": [{"role": "user", "content": "reach me on 212-555-0187 tomorrow"}]}
    low, high = await make_scanner(score_threshold=0.3), await make_scanner(score_threshold=0.9)
    assert (await low.scan("openai", orjson.dumps(doc), doc, "log")).findings == {"PHONE_NUMBER": 1}
    assert (await high.scan("openai", orjson.dumps(doc), doc, "log")).findings == {}


async def test_overlapping_findings_are_one_placeholder(make_scanner):
    # a bare 16-digit card number can also parse as a phone number: it is replaced and counted once
    doc = {"messages": [{"role": "user", "content": "card 4111111111111111 thanks"}]}
    scanner = await make_scanner()
    result = await scanner.scan("openai", orjson.dumps(doc), doc, "redact")
    assert result.findings == {"CREDIT_CARD": 1}
    assert orjson.loads(result.redacted_body)["messages"][0]["content"] == "card <CREDIT_CARD> thanks"


async def test_oversize_prompt_is_not_scanned(make_scanner):
    doc = {"messages": [{"role": "user", "content": SECRET_TEXT * 50}]}
    scanner = await make_scanner(max_scan_bytes=1000)
    scanner._inline = None  # proves no scan is attempted
    for mode, action in (("block", "block"), ("redact", "block"), ("log", "allow")):
        result = await scanner.scan("openai", orjson.dumps(doc), doc, mode)
        assert result.skipped and result.skip_reason == TOO_LARGE and result.findings == {}
        verdict = decide(mode, result)
        assert verdict.action == action
        assert stats_fields(mode, result, verdict)["skipped"] is True
        if action == "block":
            assert verdict.message.endswith(
                f"has {result.text_bytes} bytes of text, more than dlp.max_scan_bytes (1000)"
            )


async def test_on_oversize_overrides_the_default(make_scanner):
    doc = {"messages": [{"role": "user", "content": "word " * 400}]}
    allow = await make_scanner(max_scan_bytes=1000, on_oversize="allow")
    block = await make_scanner(max_scan_bytes=1000, on_oversize="block")
    assert decide("block", await allow.scan("openai", orjson.dumps(doc), doc, "block")).action == "allow"
    assert decide("log", await block.scan("openai", orjson.dumps(doc), doc, "log")).action == "block"


async def test_time_budget_stops_a_long_scan(make_scanner):
    doc = {"messages": [{"role": "user", "content": f"{CLEAN_TEXT} {i} {s.EMAIL}"} for i in range(400)]}
    scanner = await make_scanner(max_scan_ms=1)
    result = await scanner.scan("openai", orjson.dumps(doc), doc, "block")
    assert result.skipped and result.skip_reason == TIMEOUT
    assert decide("block", result).message.endswith("took longer than dlp.max_scan_ms (1)")


async def test_body_that_is_not_json(make_scanner):
    scanner = await make_scanner()
    assert await scanner.scan("openai", b"", None, "block") == DlpResult()
    result = await scanner.scan("openai", b"--boundary\r\nfile", None, "block")
    assert result.skip_reason == NOT_JSON and decide("block", result).action == "block"
    assert decide("log", await scanner.scan("openai", b"x", None, "log")).action == "allow"


async def test_scanner_failure_fails_closed(make_scanner, monkeypatch):
    scanner = await make_scanner()

    def boom(text):
        raise RuntimeError(f"exploded on {text}")

    monkeypatch.setattr(scanner._inline, "find", boom)
    doc = {"messages": [{"role": "user", "content": SECRET_TEXT}]}
    result = await scanner.scan("openai", orjson.dumps(doc), doc, "redact")
    assert result.skip_reason == SCANNER_ERROR and decide("redact", result).action == "block"


async def test_redaction_that_cannot_be_spliced_blocks(make_scanner):
    # orjson keeps the last duplicate; another parser may keep the first, so redaction refuses
    raw = b'{"messages": [{"role": "user", "content": "hello", "content": "%s"}]}' % SECRET_TEXT.encode()
    scanner = await make_scanner()
    result = await scanner.scan("openai", raw, orjson.loads(raw), "redact")
    verdict = decide("redact", result)
    assert verdict.action == "block" and "could not be redacted safely" in verdict.message


async def test_values_never_reach_logs_messages_or_stats(make_scanner, caplog, converse_provider):
    caplog.set_level(logging.DEBUG)  # presidio's own loggers included
    text = " ".join(
        [SECRET_TEXT, s.OPENAI_PROJECT, s.ANTHROPIC, s.GOOGLE, s.JWT, s.PRIVATE_KEY, s.CARD, s.IBAN, "SSN " + s.SSN]
    )
    scanner = await make_scanner()
    seen: list[str] = []
    for mode in ("log", "block", "redact"):
        for raw in (
            orjson.dumps({"messages": [{"role": "user", "content": text}]}),
            b'{"messages": [{"role": "user", "content": "x", "content": %s}]}' % orjson.dumps(text),  # unredactable
        ):
            result = await scanner.scan("openai", raw, orjson.loads(raw), mode)
            verdict = decide(mode, result)
            seen += [repr(result), repr(verdict.message), orjson.dumps(stats_fields(mode, result, verdict)).decode()]
            if verdict.body is not None:
                seen.append(verdict.body.decode())
    assert (await scanner.scan("openai", orjson.dumps({"input": text}), {"input": text}, "log")).findings == {
        "ANTHROPIC_API_KEY": 1,
        "AWS_ACCESS_KEY": 1,
        "CONNECTION_STRING_PASSWORD": 1,
        "CREDIT_CARD": 1,
        "EMAIL_ADDRESS": 1,
        "GOOGLE_API_KEY": 1,
        "IBAN_CODE": 1,
        "JWT": 1,
        "OPENAI_API_KEY": 1,
        "PRIVATE_KEY": 1,
        "US_SSN": 1,
    }
    seen.append(caplog.text)
    for value in s.ALL_VALUES:
        for out in seen:
            assert value not in out


def test_stats_fields_carry_types_and_counts():
    result = DlpResult(findings={"US_SSN": 1, "EMAIL_ADDRESS": 2}, scan_ms=1.234)
    assert stats_fields("log", result, decide("log", result)) == {
        "mode": "log",
        "action": "allow",
        "findings": {"EMAIL_ADDRESS": 2, "US_SSN": 1},
        "skipped": False,
        "skip_reason": None,
        "scan_ms": 1.23,
    }
