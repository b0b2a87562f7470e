import gzip
import socket
import threading

import pytest
import tiktoken_ext.openai_public

from lmgate import tokens


@pytest.fixture
def fresh(monkeypatch):
    """The module as if nothing had loaded the encoding yet."""
    monkeypatch.setattr(tokens, "_encoding", None)


def test_loads_without_any_network(fresh, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/nonexistent")
    assert tokens.count_tokens("hello world") == 2


def test_is_tiktokens_own_o200k_base(monkeypatch):
    enc = tokens.encoding()
    monkeypatch.setattr(tiktoken_ext.openai_public, "load_tiktoken_bpe", lambda *a, **k: enc._mergeable_ranks)
    spec = tiktoken_ext.openai_public.o200k_base()
    assert spec["pat_str"] == enc._pat_str
    assert spec["special_tokens"] == enc._special_tokens
    assert len(enc._mergeable_ranks) == 199_998
    assert enc.encode_ordinary("hello world") == [24912, 2375]


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("hello world", 2),
        ("Hello, world!", 4),
        ("<|endoftext|>", 7),  # special-token text is plain text here, never an error
        ("日本語のテキスト", 6),
    ],
)
def test_counts(text, count):
    assert tokens.count_tokens(text) == count


@pytest.mark.parametrize("sep", [" ", "", "\n", "  ", "\t"])
def test_long_texts_are_chunked_without_changing_the_count(sep):
    words = ["hello", "World", "the", "\n", "\n\n", "  ", "é", "日本語", "1234", ".", ",", "don't", '"q"', "x\u0301"]
    text = sep.join(words[(i * 7) % len(words)] for i in range(60_000))
    assert len(text) > 2 * tokens.CHUNK_CHARS
    assert tokens.count_tokens(text) == len(tokens.encoding().encode_ordinary(text))


def test_huge_whitespace_runs_do_not_crash():
    # one regex piece of 2M spaces overflows tiktoken's regex stack; chunks keep it small
    assert 15_000 < tokens.count_tokens(" " * 2_000_000) < 16_000


def test_loaded_once_across_threads(fresh, monkeypatch):
    calls = []
    real = tokens.load_ranks

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(tokens, "load_ranks", counting)
    barrier = threading.Barrier(8)
    seen = []

    def worker():
        barrier.wait()
        seen.append(tokens.encoding())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({id(e) for e in seen}) == 1


def test_a_wrong_vocabulary_file_is_refused(tmp_path):
    path = tmp_path / "x.tiktoken.gz"
    path.write_bytes(gzip.compress(b"aGVsbG8= 0\n"))
    with pytest.raises(ValueError, match="sha256 mismatch"):
        tokens.load_ranks(path)


def test_estimate_usage():
    usage = tokens.estimate_usage(["hello world", "Hello, world!"], "hello world", "gpt-4o")
    assert usage.input_tokens == 6
    assert usage.output_tokens == 2
    assert usage.model == "gpt-4o"
    assert usage.usage_source == "estimated"
    assert usage.cache_read_tokens is None and usage.reasoning_tokens is None
    assert tokens.estimate_usage([], "", None).as_dict() == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": None,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
        "model": None,
        "usage_source": "estimated",
    }
