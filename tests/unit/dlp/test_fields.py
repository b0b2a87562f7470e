"""Which strings each provider format hands to the scanner."""

from __future__ import annotations

import base64

import pytest

from lmgate.dlp.fields import looks_like_blob, prompt_texts


def test_openai_chat_text_parts_only():
    doc = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in this image?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            },
        ],
        "user": "not-a-prompt@example.com",
    }
    assert prompt_texts("openai", doc) == [
        (("messages", 0, "content"), "be brief"),
        (("messages", 1, "content", 0, "text"), "what is in this image?"),
    ]


def test_openai_responses_input():
    doc = {
        "instructions": "answer in French",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hello"}, {"type": "input_image"}]},
            {"type": "function_call_output", "call_id": "c1", "output": "42 rows"},
        ],
    }
    assert prompt_texts("openai", doc) == [
        (("instructions",), "answer in French"),
        (("input", 0, "content", 0, "text"), "hello"),
        (("input", 1, "output"), "42 rows"),
    ]


def test_anthropic_system_and_blocks():
    doc = {
        "system": [{"type": "text", "text": "you are terse"}],
        "messages": [
            {"role": "user", "content": "plain string"},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "tool said"}]},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}},
                ],
            },
        ],
    }
    assert prompt_texts("anthropic", doc) == [
        (("system", 0, "text"), "you are terse"),
        (("messages", 0, "content"), "plain string"),
        (("messages", 1, "content", 0, "content", 0, "text"), "tool said"),
    ]


def test_gemini_contents_parts():
    doc = {
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "x"}}]}
        ],
    }
    assert prompt_texts("gemini", doc) == [
        (("systemInstruction", "parts", 0, "text"), "sys"),
        (("contents", 0, "parts", 0, "text"), "hi"),
    ]


def test_any_provider_with_prompt_fields_works(converse_provider):
    doc = {"system": [{"text": "sys"}], "messages": [{"role": "user", "content": [{"text": "hi"}, {"image": {}}]}]}
    assert prompt_texts(converse_provider, doc) == [
        (("system", 0, "text"), "sys"),
        (("messages", 0, "content", 0, "text"), "hi"),
    ]


def test_blank_strings_and_blobs_are_left_out():
    blob = base64.b64encode(bytes(range(256)) * 2).decode()
    doc = {"messages": [{"role": "user", "content": c} for c in ("  ", blob, f"data:image/png;base64,{blob}", "ok")]}
    assert prompt_texts("openai", doc) == [(("messages", 3, "content"), "ok")]


@pytest.mark.parametrize(
    ("text", "blob"),
    [
        ("data:audio/wav;base64,UklGRg==", True),
        ("data:text/plain;charset=utf-8;base64,aGk=", True),
        ("A" * 300, True),
        ("A" * 100, False),  # too short to be sure it is not a word or a key
        ("word " * 100, False),
        ("see data:image/png;base64,xyz in the middle", False),
    ],
)
def test_looks_like_blob(text, blob):
    assert looks_like_blob(text) is blob


# --- what each API's model reads besides plain messages (issue 13, item 5)


def fields_of(kind: str, doc: dict) -> dict:
    """``{path: text}``; each path must lead to exactly that string, or redaction could not find it."""
    found = prompt_texts(kind, doc)
    for path, text in found:
        value = doc
        for key in path:
            value = value[key]
        assert value == text, path
    assert len({path for path, _ in found}) == len(found), "a path named twice"
    return dict(found)


def test_openai_chat_tool_calls_tool_results_refusals_and_prediction():
    doc = {
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "calling"}, {"type": "refusal", "refusal": "no"}],
                "refusal": "not that",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "mail", "arguments": '{"to": "a@b.c"}'}},
                    {"id": "call_2", "type": "custom", "custom": {"name": "sh", "input": "cat /etc/x"}},
                ],
                "function_call": {"name": "old", "arguments": '{"q": 1}'},
                "audio": {"id": "audio_1"},
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sent to a@b.c"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "x=1"}]},
            {"role": "user", "content": [{"type": "file", "file": {"file_data": "data:application/pdf;base64,AA"}}]},
        ],
        "prediction": {"type": "content", "content": "predicted"},
        "tools": [{"type": "function", "function": {"name": "mail", "description": "sends mail"}}],
        "user": "user-1234",
    }
    assert fields_of("openai", doc) == {
        ("messages", 0, "content", 0, "text"): "dev",
        ("messages", 1, "content", 0, "text"): "calling",
        ("messages", 1, "content", 1, "refusal"): "no",
        ("messages", 1, "refusal"): "not that",
        ("messages", 1, "tool_calls", 0, "function", "arguments"): '{"to": "a@b.c"}',
        ("messages", 1, "tool_calls", 1, "custom", "input"): "cat /etc/x",
        ("messages", 1, "function_call", "arguments"): '{"q": 1}',
        ("messages", 2, "content"): "sent to a@b.c",
        ("messages", 3, "content", 0, "text"): "x=1",
        ("prediction", "content"): "predicted",
    }


def test_openai_responses_input_items_of_every_kind():
    doc = {
        "input": [
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": "hi", "annotations": []},
                    {"type": "refusal", "refusal": "r"},
                ],
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"ssn": "078-05-1120"}'},
            {
                "type": "function_call_output",
                "call_id": "c1",
                "output": [{"type": "input_text", "text": "done"}, {"type": "input_image", "image_url": "https://x"}],
            },
            {"type": "custom_tool_call", "call_id": "c2", "name": "g", "input": "raw input"},
            {"type": "custom_tool_call_output", "call_id": "c2", "output": "raw output"},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "thought"}],
                "encrypted_content": "gAAAA",
            },
            {
                "type": "shell_call_output",
                "call_id": "c3",
                "output": [{"stdout": "out", "stderr": "err", "outcome": {"type": "exit", "exit_code": 0}}],
            },
            {"type": "mcp_call", "id": "m1", "name": "h", "server_label": "s", "arguments": "{}", "output": "mcp out"},
            {
                "type": "apply_patch_call",
                "call_id": "c4",
                "status": "completed",
                "operation": {"type": "update_file", "path": "a.py", "diff": "+secret"},
            },
            {
                "type": "code_interpreter_call",
                "id": "ci",
                "container_id": "cnt",
                "status": "completed",
                "code": "print(1)",
                "outputs": [{"type": "logs", "logs": "1"}, {"type": "image", "url": "https://x"}],
            },
            {
                "type": "file_search_call",
                "id": "fs",
                "status": "completed",
                "queries": ["q"],
                "results": [{"file_id": "f", "filename": "a.txt", "text": "found"}],
            },
            {"type": "item_reference", "id": "msg_0"},
        ],
        "prompt": {"id": "pmpt_1", "variables": {"name": "Jane", "doc": {"type": "input_text", "text": "body"}}},
    }
    assert fields_of("openai", doc) == {
        ("input", 0, "content", 0, "text"): "hi",
        ("input", 0, "content", 1, "refusal"): "r",
        ("input", 1, "arguments"): '{"ssn": "078-05-1120"}',
        ("input", 2, "output", 0, "text"): "done",
        ("input", 3, "input"): "raw input",
        ("input", 4, "output"): "raw output",
        ("input", 5, "summary", 0, "text"): "thought",
        ("input", 6, "output", 0, "stdout"): "out",
        ("input", 6, "output", 0, "stderr"): "err",
        ("input", 7, "output"): "mcp out",
        ("input", 7, "arguments"): "{}",
        ("input", 8, "operation", "type"): "update_file",
        ("input", 8, "operation", "path"): "a.py",
        ("input", 8, "operation", "diff"): "+secret",
        ("input", 9, "outputs", 0, "logs"): "1",
        ("input", 9, "code"): "print(1)",
        ("input", 10, "results", 0, "text"): "found",
        ("input", 10, "queries", 0): "q",
        ("prompt", "variables", "name"): "Jane",
        ("prompt", "variables", "doc", "text"): "body",
    }


def test_openai_embeddings_moderation_and_legacy_completions():
    assert fields_of("openai", {"input": ["a", "b", [1, 2]]}) == {("input", 0): "a", ("input", 1): "b"}
    moderation = {"input": [{"type": "text", "text": "t"}, {"type": "image_url", "image_url": {"url": "https://x"}}]}
    assert fields_of("openai", moderation) == {("input", 0, "text"): "t"}
    assert fields_of("openai", {"prompt": ["p", [1, 2]], "suffix": "s"}) == {("prompt", 0): "p", ("suffix",): "s"}


def test_anthropic_documents_search_results_tool_use_and_results():
    doc = {
        "system": "sys",
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "title": "T",
                        "context": "C",
                        "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"},
                    },
                    {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "chunk"}]}},
                    {"type": "document", "source": {"type": "content", "content": "content string"}},
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
                    {
                        "type": "search_result",
                        "source": "https://x",
                        "title": "ST",
                        "content": [{"type": "text", "text": "result text"}],
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "signed thoughts", "signature": "sig"},
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "lookup",
                        "input": {"q": "who", "opts": ["a", {"b": "c"}]},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "plain result"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [
                            {"type": "text", "text": "text result"},
                            {
                                "type": "document",
                                "source": {"type": "text", "media_type": "text/plain", "data": "doc result"},
                            },
                        ],
                    },
                ],
            },
        ],
    }
    assert fields_of("anthropic", doc) == {
        ("system",): "sys",
        ("messages", 0, "content", 0, "title"): "T",
        ("messages", 0, "content", 0, "context"): "C",
        ("messages", 0, "content", 0, "source", "data"): "plain doc",
        ("messages", 0, "content", 1, "source", "content", 0, "text"): "chunk",
        ("messages", 0, "content", 2, "source", "content"): "content string",
        ("messages", 0, "content", 4, "title"): "ST",
        ("messages", 0, "content", 4, "content", 0, "text"): "result text",
        ("messages", 1, "content", 1, "input", "q"): "who",
        ("messages", 1, "content", 1, "input", "opts", 0): "a",
        ("messages", 1, "content", 1, "input", "opts", 1, "b"): "c",
        ("messages", 2, "content", 0, "content"): "plain result",
        ("messages", 2, "content", 1, "content", 0, "text"): "text result",
        ("messages", 2, "content", 1, "content", 1, "source", "data"): "doc result",
    }
    assert fields_of("vertex", doc) == fields_of("anthropic", doc)  # Claude on Vertex
    bedrock_invoke = {**doc, "anthropic_version": "bedrock-2023-05-31"}
    assert fields_of("bedrock", bedrock_invoke) == fields_of("anthropic", doc)


def test_gemini_function_calls_and_responses_code_in_either_spelling():
    doc = {
        "system_instruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "lookup", "args": {"email": "a@b.c", "n": 3}}},
                    {"executableCode": {"language": "PYTHON", "code": "print(2)"}},
                    {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "2"}},
                    {"text": "thinking...", "thought": True, "thoughtSignature": "c2ln"},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "lookup", "response": {"result": {"rows": ["row one", "row two"]}}}},
                    {"function_response": {"name": "lookup", "response": {"output": "snake"}}},
                    {"inlineData": {"mimeType": "text/plain", "data": "aGk="}},
                    {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/x.pdf"}},
                ],
            },
        ],
        "tools": [{"functionDeclarations": [{"name": "lookup", "description": "finds rows"}]}],
    }
    expected = {
        ("system_instruction", "parts", 0, "text"): "sys",
        ("contents", 0, "parts", 0, "functionCall", "args", "email"): "a@b.c",
        ("contents", 0, "parts", 1, "executableCode", "code"): "print(2)",
        ("contents", 0, "parts", 2, "codeExecutionResult", "output"): "2",
        ("contents", 0, "parts", 3, "text"): "thinking...",
        ("contents", 1, "parts", 0, "functionResponse", "response", "result", "rows", 0): "row one",
        ("contents", 1, "parts", 0, "functionResponse", "response", "result", "rows", 1): "row two",
        ("contents", 1, "parts", 1, "function_response", "response", "output"): "snake",
    }
    assert fields_of("gemini", doc) == expected
    assert fields_of("vertex", doc) == expected
    count_tokens = {"generateContentRequest": {"model": "models/x", "contents": [{"parts": [{"text": "count me"}]}]}}
    assert fields_of("gemini", count_tokens) == {
        ("generateContentRequest", "contents", 0, "parts", 0, "text"): "count me"
    }
    predict = {"instances": [{"content": "embed me", "task_type": "RETRIEVAL_QUERY"}, {"prompt": "an image of"}]}
    assert fields_of("vertex", predict) == {
        ("instances", 0, "content"): "embed me",
        ("instances", 1, "prompt"): "an image of",
    }


def test_bedrock_converse_documents_tools_guarded_text_search_results_and_variables():
    doc = {
        "system": [
            {"text": "sys"},
            {"guardContent": {"text": {"text": "guarded sys", "qualifiers": ["guard_content"]}}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"document": {"format": "txt", "name": "notes", "context": "ctx", "source": {"text": "doc text"}}},
                    {"document": {"format": "txt", "name": "chunks", "source": {"content": [{"text": "chunk"}]}}},
                    {"document": {"format": "pdf", "name": "scan", "source": {"bytes": "JVBERi0="}}},
                    {"searchResult": {"source": "https://x", "title": "ST", "content": [{"text": "hit"}]}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "signed", "signature": "sig"}}},
                    {"toolUse": {"toolUseId": "t", "name": "f", "input": {"to": "a@b.c", "cc": ["d@e.f"]}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": "t",
                            "content": [
                                {"text": "r"},
                                {"json": {"rows": [{"email": "g@h.i"}], "n": 1}},
                                {"document": {"format": "txt", "name": "out", "source": {"text": "result doc"}}},
                            ],
                        }
                    }
                ],
            },
        ],
        "promptVariables": {"customer": {"text": "Jane"}},
    }
    assert fields_of("bedrock", doc) == {
        ("system", 0, "text"): "sys",
        ("system", 1, "guardContent", "text", "text"): "guarded sys",
        ("messages", 0, "content", 0, "document", "context"): "ctx",
        ("messages", 0, "content", 0, "document", "source", "text"): "doc text",
        ("messages", 0, "content", 1, "document", "source", "content", 0, "text"): "chunk",
        ("messages", 0, "content", 3, "searchResult", "title"): "ST",
        ("messages", 0, "content", 3, "searchResult", "content", 0, "text"): "hit",
        ("messages", 1, "content", 1, "toolUse", "input", "to"): "a@b.c",
        ("messages", 1, "content", 1, "toolUse", "input", "cc", 0): "d@e.f",
        ("messages", 2, "content", 0, "toolResult", "content", 0, "text"): "r",
        ("messages", 2, "content", 0, "toolResult", "content", 1, "json", "rows", 0, "email"): "g@h.i",
        ("messages", 2, "content", 0, "toolResult", "content", 2, "document", "source", "text"): "result doc",
        ("promptVariables", "customer", "text"): "Jane",
    }


def test_bedrock_native_chat_bodies():
    openai_style = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": [{"type": "text", "text": "x"}]}]
    }
    assert fields_of("bedrock", openai_style) == {
        ("messages", 0, "content"): "hi",
        ("messages", 1, "content", 0, "text"): "x",
    }
    cohere = {"message": "now", "chat_history": [{"role": "USER", "message": "before"}]}
    assert fields_of("bedrock", cohere) == {("message",): "now", ("chat_history", 0, "message"): "before"}
    assert fields_of("bedrock", {"texts": ["a", "b"], "input_type": "search_query"}) == {
        ("texts", 0): "a",
        ("texts", 1): "b",
    }
