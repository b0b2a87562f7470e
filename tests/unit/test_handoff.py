from lmgate.clip import clip
from lmgate.handoff import MAX_ENCODED, MAX_ENDPOINT, MAX_MODEL, Handoff, client_text


def test_clip_keeps_short_text_and_marks_a_cut():
    assert clip("gpt-4o", 10) == "gpt-4o"
    cut = clip("m" * 10_000, 64)
    assert len(cut) == 64 and cut.startswith("mmm") and cut.endswith("…(10000 chars cut)")


def test_round_trip():
    h = Handoff("k1", "alpha", "…abc123", "gpt-4o", True, "/v1/chat/completions", "l.1", 12, {"mode": "log"})
    assert Handoff.decode(h.encode()) == h


def test_client_text_is_cut_and_raw_bytes_survive_as_replacement_characters():
    raw_path = b"/v1beta/models/gemini-\xff:generateContent".decode("utf-8", "surrogateescape")
    h = Handoff(model=client_text("x" * 100_000, MAX_MODEL), endpoint=client_text(raw_path, MAX_ENDPOINT))
    back = Handoff.decode(h.encode())
    assert back.endpoint == "/v1beta/models/gemini-\ufffd:generateContent"
    assert len(back.model) == MAX_MODEL and back.model.endswith("…(100000 chars cut)")


def test_the_encoded_handoff_is_bounded_whatever_the_client_sent():
    """The handler cuts the client's text with ``client_text``; the /auth buffer is sized for this bound."""
    worst = Handoff(
        key_id="k" * 64,
        owner="o" * 64,
        masked_key="…" + "\x01" * 6,
        model=client_text("\x01" * 100_000, MAX_MODEL),  # each a six-byte JSON escape
        stream=True,
        endpoint=client_text("\x7f\udcff" * 50_000, MAX_ENDPOINT),
        lease="0123456789ab." + "9" * 12,
        prompt_estimate=2**62,
        dlp={"mode": "redact", "action": "redact", "findings": {f"TYPE_{i}": 10**9 for i in range(30)}},
    )
    encoded = worst.encode()
    assert len(encoded) <= MAX_ENCODED
    back = Handoff.decode(encoded)
    assert len(back.model) == MAX_MODEL and len(back.endpoint) == MAX_ENDPOINT
