"""A refused request consumes nothing: no rpm hit, no max_parallel slot, whichever judgement refused it.

The counted rules are judged and committed in one store call, made after every
judgement that commits nothing (model rules, DLP, the provider credential of a
virtual key), so no refusal can come after the commit.
"""

from __future__ import annotations

import time

import openai
import pytest

from tests.e2e.harness import Gateway, wait_for
from tests.e2e.test_gateway import oai

EMAIL = "jane.doe@example.com"
BLOCKED = "sk-test-refusals-dlp-block-0123456789"
VIRTUAL = "lmgate-vk-refusals-0123456789abcdef"
REAL_OPENAI = "sk-real-refusals-upstream-0123456789"
ONE_AT_A_TIME = {"rpm": "1", "max_parallel": "1"}
SECRET_CHECK_WAIT = 1.2  # the sidecar looks at a secret file at most once a second


@pytest.fixture(scope="module")
def rgw(fake, tmp_path_factory):
    root = tmp_path_factory.mktemp("refusals")
    gw = Gateway(root, fake.base_url, {"dlp": {"workers": 1}})
    gw.secret = root / "openai.key"  # missing until a test writes it
    gw.write_allowlist(
        [
            ("blocked", BLOCKED, "eta", {"dlp": "block", **ONE_AT_A_TIME}),
            ("virtual", VIRTUAL, "eta", {"upstream_key": f"file:{gw.secret}", **ONE_AT_A_TIME}),
        ],
        wait=False,
    )
    gw.start()
    wait_for(lambda: "DLP scanner ready" in gw.sidecar_log(), timeout=60, what="the DLP scanner to start")
    yield gw
    gw.stop()


def _chat(gw, key: str, content: str):
    messages = [{"role": "user", "content": content}]
    return oai(gw, key=key).chat.completions.create(model="gpt-4o-mini", messages=messages)


def test_a_dlp_block_uses_up_no_rpm_slot(rgw, fake):
    rgw.fresh(fake)
    for _ in range(3):
        with pytest.raises(openai.PermissionDeniedError) as e:
            _chat(rgw, BLOCKED, f"write to {EMAIL}")
        assert "EMAIL_ADDRESS" in str(e.value)
    _chat(rgw, BLOCKED, "nothing to find here")  # the key's one request a minute is still there
    assert len(fake.received) == 1
    lines = rgw.next_stats(4)
    assert [x["error_type"] for x in lines] == ["dlp_blocked"] * 3 + [None]


def test_an_unreadable_provider_credential_uses_up_no_rpm_slot(rgw, fake):
    rgw.fresh(fake)
    with pytest.raises(openai.InternalServerError) as e:  # the virtual key's secret file is missing
        _chat(rgw, VIRTUAL, "hi")
    assert e.value.status_code == 503 and "provider credential" in str(e.value)
    rgw.secret.write_text(REAL_OPENAI + "\n")
    time.sleep(SECRET_CHECK_WAIT)
    _chat(rgw, VIRTUAL, "hi")  # its one request a minute was not spent on the refusal
    assert [r.header("Authorization") for r in fake.received] == [f"Bearer {REAL_OPENAI}"]
    assert [x["status"] for x in rgw.next_stats(2)] == [503, 200]
