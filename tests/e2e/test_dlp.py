"""DLP in the auth path, end to end: log, block and redact per key, per provider format, with the SDKs."""

from __future__ import annotations

import anthropic
import httpx
import openai
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.e2e.harness import Gateway, RepeatKey, wait_for
from tests.e2e.test_gateway import raw_request

EMAIL = "jane.doe@example.com"
PHONE = "+1 415 555 0132"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
CARD = "4111 1111 1111 1111"
KEYS = {mode: f"sk-test-dlp-{mode}-0123456789" for mode in ("log", "block", "redact", "off")}


@pytest.fixture(scope="module")
def dlp_gw(fake, tmp_path_factory):
    """A gateway whose keys each pick a DLP mode; a small scan budget to test the oversize verdict."""
    gw = Gateway(tmp_path_factory.mktemp("dlp"), fake.base_url, {"dlp": {"max_scan_bytes": 8192, "workers": 1}})
    gw.write_allowlist([(f"dlp-{m}", k, "privacy", {"dlp": m}) for m, k in KEYS.items()], wait=False)
    gw.start()
    wait_for(lambda: "DLP scanner ready" in gw.sidecar_log(), timeout=60, what="the DLP scanner to start")
    yield gw
    gw.stop()


@pytest.fixture
def dgw(dlp_gw, fake):
    fake.clear()
    dlp_gw.mark_stats()
    return dlp_gw


def oai(gw, mode: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/openai/v1", api_key=KEYS[mode], max_retries=0, **kw)


def claude(gw, mode: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=KEYS[mode], max_retries=0)


def gemini(gw, mode: str) -> genai.Client:
    return genai.Client(api_key=KEYS[mode], http_options={"base_url": gw.url + "/gemini"})


def test_redact_openai_chat_replaces_only_the_findings_byte_for_byte(dgw, fake):
    text = f"Mail {EMAIL} or call {PHONE}; my key is {AWS_KEY}. Thanks!"
    oai(dgw, "redact").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
    )
    sent = fake.received[-1].body
    assert EMAIL.encode() not in sent and AWS_KEY.encode() not in sent and b"555 0132" not in sent
    expected_text = text.replace(EMAIL, "<EMAIL_ADDRESS>").replace(PHONE, "<PHONE_NUMBER>")
    expected_text = expected_text.replace(AWS_KEY, "<AWS_ACCESS_KEY>")
    doc = orjson.loads(sent)
    assert doc["messages"][1]["content"] == expected_text
    assert doc["messages"][0]["content"] == "Be brief."
    # everything outside the redacted string is the client's bytes
    head = sent.split(b"<EMAIL_ADDRESS>")[0]
    assert head == sent[: len(head)] and head.endswith(b"Mail ")
    line = dgw.next_stats()[0]
    assert line["dlp"]["action"] == "redact"
    assert line["dlp"]["findings"] == {"AWS_ACCESS_KEY": 1, "EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}


def test_redact_openai_responses_input_and_anthropic_system_and_blocks(dgw, fake):
    oai(dgw, "redact").responses.create(
        model="gpt-4o", instructions=f"Reply to {EMAIL}", input=[{"role": "user", "content": "hello"}]
    )
    doc = orjson.loads(fake.received[-1].body)
    assert doc["instructions"] == "Reply to <EMAIL_ADDRESS>" and doc["input"][0]["content"] == "hello"
    claude(dgw, "redact").messages.create(
        model="claude-haiku-4-5",
        max_tokens=16,
        system=f"Customer email: {EMAIL}",
        messages=[{"role": "user", "content": [{"type": "text", "text": f"card {CARD} please"}]}],
    )
    doc = orjson.loads(fake.received[-1].body)
    assert doc["system"] == "Customer email: <EMAIL_ADDRESS>"
    assert doc["messages"][0]["content"][0]["text"] == "card <CREDIT_CARD> please"
    lines = dgw.next_stats(2)
    assert lines[1]["dlp"]["findings"] == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1}


def test_block_gives_each_sdks_permission_error_naming_types_never_values(dgw, fake):
    with pytest.raises(openai.PermissionDeniedError) as e:
        oai(dgw, "block").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"my key {AWS_KEY}"}]
        )
    assert "AWS_ACCESS_KEY" in str(e.value) and AWS_KEY not in str(e.value)
    with pytest.raises(anthropic.PermissionDeniedError) as e2:
        claude(dgw, "block").messages.create(
            model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": f"write to {EMAIL}"}]
        )
    assert "EMAIL_ADDRESS" in str(e2.value) and EMAIL not in str(e2.value)
    client = gemini(dgw, "block")
    with pytest.raises(genai_errors.ClientError) as e3:
        client.models.generate_content(model="gemini-2.5-flash", contents=f"card {CARD}")
    assert e3.value.code == 403 and "CREDIT_CARD" in str(e3.value)
    assert fake.received == []  # nothing reached the provider
    lines = dgw.next_stats(3)
    assert all(x["status"] == 403 and x["error_type"] == "dlp_blocked" for x in lines)
    assert [x["dlp"]["findings"] for x in lines] == [{"AWS_ACCESS_KEY": 1}, {"EMAIL_ADDRESS": 1}, {"CREDIT_CARD": 1}]


def test_log_mode_forwards_the_client_bytes_and_records_findings(dgw, fake):
    client = gemini(dgw, "log")
    client.models.generate_content(model="gemini-2.5-flash", contents=f"reach me at {EMAIL}")
    assert EMAIL.encode() in fake.received[-1].body
    line = dgw.next_stats()[0]
    assert line["dlp"]["action"] == "allow" and line["dlp"]["findings"] == {"EMAIL_ADDRESS": 1}
    oai(dgw, "off").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": EMAIL}])
    assert dgw.next_stats()[0]["dlp"] is None  # off: not scanned at all


def test_clean_prompts_pass_untouched_and_a_prompt_over_budget_gets_the_configured_verdict(dgw, fake):
    body_text = "Summarise the quarterly plan for order 2024-11-0042, version 3.2.1."
    oai(dgw, "redact").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": body_text}])
    assert orjson.loads(fake.received[-1].body)["messages"][0]["content"] == body_text
    assert dgw.next_stats()[0]["dlp"]["findings"] == {}
    big = "lorem ipsum " * 1000  # 12 KB of text, over max_scan_bytes
    with pytest.raises(openai.PermissionDeniedError) as e:
        oai(dgw, "redact").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": big}])
    assert "max_scan_bytes" in str(e.value)
    oai(dgw, "log").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": big}])
    lines = dgw.next_stats(2)
    assert lines[0]["error_type"] == "dlp_blocked"
    assert lines[1]["status"] == 200 and lines[1]["dlp"]["skipped"] is True


def test_found_values_never_reach_stats_or_logs(dgw):
    text = dgw.stats_path.read_text() + dgw.sidecar_log() + dgw.nginx_log()
    for value in (EMAIL, AWS_KEY, CARD, "555 0132"):
        assert value not in text


def test_a_body_repeating_a_key_is_refused_with_the_sdks_bad_request_error(dgw, fake):
    hidden = [{"role": "user", "content": f"my key is {AWS_KEY}"}]  # the copy a first-wins parser acts on
    for mode in ("block", "log", "off"):  # ambiguous whatever the key's rules: nothing may read it
        client = oai(dgw, mode, http_client=httpx.Client(transport=RepeatKey("messages", hidden)))
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert "repeats a key" in str(e.value) and '"messages"' in str(e.value) and AWS_KEY not in str(e.value)
    assert fake.received == []
    lines = dgw.next_stats(3)
    assert [(x["status"], x["error_type"]) for x in lines] == [(400, "invalid_request")] * 3


def test_block_scans_tool_results_tool_arguments_and_text_documents(dgw, fake):
    user = genai_types.Content(role="user", parts=[genai_types.Part.from_text(text="who owns order 42?")])
    call = genai_types.Content(
        role="model", parts=[genai_types.Part.from_function_call(name="lookup", args={"order": "42"})]
    )
    result = genai_types.Content(
        role="user",
        parts=[genai_types.Part.from_function_response(name="lookup", response={"owner": {"mail": EMAIL}})],
    )
    client = gemini(dgw, "block")  # kept: a dropped genai client closes its connection pool
    with pytest.raises(genai_errors.ClientError) as e:
        client.models.generate_content(model="gemini-2.5-flash", contents=[user, call, result])
    assert e.value.code == 403 and "EMAIL_ADDRESS" in str(e.value)
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": f"card {CARD}"}}
    with pytest.raises(anthropic.PermissionDeniedError) as e2:
        claude(dgw, "block").messages.create(
            model="claude-haiku-4-5",
            max_tokens=8,
            messages=[{"role": "user", "content": [document, {"type": "text", "text": "summarise it"}]}],
        )
    assert "CREDIT_CARD" in str(e2.value)
    with pytest.raises(anthropic.PermissionDeniedError) as e3:
        claude(dgw, "block").messages.create(
            model="claude-haiku-4-5",
            max_tokens=8,
            messages=[
                {"role": "user", "content": "look it up"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [document]}]},
            ],
        )
    assert "CREDIT_CARD" in str(e3.value)
    with pytest.raises(openai.PermissionDeniedError) as e4:
        oai(dgw, "block").chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "user", "content": "store my key"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "store", "arguments": orjson.dumps({"key": AWS_KEY}).decode()},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "stored"},
            ],
        )
    assert "AWS_ACCESS_KEY" in str(e4.value)
    assert fake.received == []
    lines = dgw.next_stats(4)
    assert [x["dlp"]["findings"] for x in lines] == [
        {"EMAIL_ADDRESS": 1},
        {"CREDIT_CARD": 1},
        {"CREDIT_CARD": 1},
        {"AWS_ACCESS_KEY": 1},
    ]


def test_redact_reaches_function_responses_documents_and_tool_arguments(dgw, fake):
    result = genai_types.Part.from_function_response(name="lookup", response={"rows": [f"owner {EMAIL}", "ok"]})
    client = gemini(dgw, "redact")
    client.models.generate_content(
        model="gemini-2.5-flash", contents=[genai_types.Content(role="user", parts=[result])]
    )
    sent = orjson.loads(fake.received[-1].body)
    assert sent["contents"][0]["parts"][0]["functionResponse"]["response"] == {"rows": ["owner <EMAIL_ADDRESS>", "ok"]}
    claude(dgw, "redact").messages.create(
        model="claude-haiku-4-5",
        max_tokens=8,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "title": "notes",
                        "source": {"type": "text", "media_type": "text/plain", "data": f"pay with {CARD}"},
                    }
                ],
            }
        ],
    )
    sent = orjson.loads(fake.received[-1].body)
    assert sent["messages"][0]["content"][0]["source"]["data"] == "pay with <CREDIT_CARD>"
    oai(dgw, "redact").responses.create(
        model="gpt-4o",
        input=[
            {"type": "function_call", "call_id": "c1", "name": "mail", "arguments": f'{{"to": "{EMAIL}"}}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sent"},
        ],
    )
    sent = orjson.loads(fake.received[-1].body)
    assert sent["input"][0]["arguments"] == '{"to": "<EMAIL_ADDRESS>"}'
    assert [x["dlp"]["action"] for x in dgw.next_stats(3)] == ["redact"] * 3


def test_redaction_changes_only_the_findings_bytes_escapes_and_all(dgw, fake):
    # google-genai writes non-ASCII text as \u escapes: the upstream must get the SDK's bytes but for the finding
    text = f"Grüße von Zoë 😀, schreib an {EMAIL} – danke"
    logging_client, redacting_client = gemini(dgw, "log"), gemini(dgw, "redact")
    logging_client.models.generate_content(model="gemini-2.5-flash", contents=text)
    original = fake.received[-1].body
    assert b"\\u00fc" in original and b"\\ud83d\\ude00" in original  # what the SDK sent, as it sent it
    redacting_client.models.generate_content(model="gemini-2.5-flash", contents=text)
    assert fake.received[-1].body == original.replace(EMAIL.encode(), b"<EMAIL_ADDRESS>")
    # escaped slashes, an escaped '@' inside the finding, odd spacing: only the finding's bytes change
    body = (
        b'{ "model" :"gpt-4o-mini" ,\n "messages":[{"role":"user","content":'
        b'"caf\\u00e9 \\/ https:\\/\\/x.org\\/a \\"q\\" jane.doe\\u0040example.com \\ud83d\\ude00\\n"} ] }'
    )
    headers = {"Authorization": f"Bearer {KEYS['redact']}", "Content-Type": "application/json"}
    resp, data = raw_request(dgw, "POST", "/openai/v1/chat/completions", body, headers)
    assert resp.status == 200, data
    assert fake.received[-1].body == body.replace(b"jane.doe\\u0040example.com", b"<EMAIL_ADDRESS>")
    assert [x["dlp"]["findings"] for x in dgw.next_stats(3)] == [{"EMAIL_ADDRESS": 1}] * 3
