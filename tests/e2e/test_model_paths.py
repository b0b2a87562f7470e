"""Model rules judge what the provider will run: Azure's deployment in the path, and paths as upstreams read them.

Azure runs the deployment named in ``/openai/deployments/{deployment}/...`` whatever the
body's ``model`` says. Gemini, Vertex and Azure name the model in the path, and an
upstream that normalises dot segments (or reads ``%2F`` and ``\\`` as separators) acts
on another path than the one written: such paths are refused with 400 before anything
is judged or forwarded.
"""

from __future__ import annotations

import openai
import orjson
import pytest

from tests.e2e.conftest import KEYS, ROWS
from tests.e2e.test_gateway import gemini, raw_request

NARROW = "sk-test-narrow-paths-0123456789"
HI = [{"role": "user", "content": "hi"}]
GEMINI_BODY = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
CHAT_BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": HI})
VERTEX_MODELS = "/vertex/v1/projects/p1/locations/us-central1/publishers/google/models/"


@pytest.fixture
def narrow(gw):
    gw.write_allowlist([*ROWS, ("narrow", NARROW, "eta", {"models": "gpt-4o-mini*;gemini-2.0-*"})])
    return NARROW


def azure(gw, key: str, **kw) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=gw.url + "/azure", api_key=key, api_version="2024-10-21", max_retries=0, **kw
    )


# --- Azure: the deployment runs, so the deployment is judged


def test_azure_rules_judge_the_deployment_in_the_path_not_the_body_model(gw, fake, narrow):
    pinned = azure(gw, narrow, azure_deployment="gpt-5-pro")  # the SDK puts the deployment in the URL
    with pytest.raises(openai.PermissionDeniedError) as e:
        pinned.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert "'gpt-5-pro' is not allowed" in str(e.value) and "gpt-4o-mini*" in str(e.value)
    assert fake.received == []
    refused = gw.next_stats()[0]
    assert (refused["status"], refused["error_type"], refused["model"]) == (403, "model_not_allowed", "gpt-5-pro")

    # an allowed deployment runs whatever the body names: Azure ignores it
    azure(gw, narrow, azure_deployment="gpt-4o-mini-prod").chat.completions.create(model="gpt-5-pro", messages=HI)
    assert fake.received[-1].raw_path.startswith("/openai/deployments/gpt-4o-mini-prod/chat/completions?")
    served = gw.next_stats()[0]
    # the stats line names the model the provider reports it ran (what prices know), not the deployment
    assert (served["status"], served["model"]) == (200, "gpt-4o-mini-2024-07-18")

    # without azure_deployment the SDK makes model= the deployment: judged as such both ways
    azure(gw, narrow).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert fake.received[-1].raw_path.startswith("/openai/deployments/gpt-4o-mini/chat/completions?")
    with pytest.raises(openai.PermissionDeniedError):
        azure(gw, narrow).chat.completions.create(model="gpt-5-pro", messages=HI)
    assert len(fake.received) == 2


def test_azure_percent_encoded_deployment_is_judged_decoded(gw, fake, narrow):
    # Azure decodes the path: gpt%2D5-pro is the deployment gpt-5-pro
    path = "/azure/openai/deployments/gpt%2D5-pro/chat/completions?api-version=2024-10-21"
    resp, data = raw_request(gw, "POST", path, CHAT_BODY, {"api-key": narrow, "Content-Type": "application/json"})
    assert resp.status == 403 and "'gpt-5-pro'" in orjson.loads(data)["error"]["message"]
    assert fake.received == []


def test_azure_v1_api_judges_the_body_model_which_is_the_deployment(gw, fake, narrow):
    v1 = openai.OpenAI(base_url=gw.url + "/azure/openai/v1", api_key=narrow, max_retries=0)
    v1.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert fake.received[-1].raw_path == "/openai/v1/chat/completions"
    with pytest.raises(openai.PermissionDeniedError) as e:
        v1.chat.completions.create(model="gpt-5-pro", messages=HI)
    assert "'gpt-5-pro' is not allowed" in str(e.value)
    assert len(fake.received) == 1


# --- paths an upstream reads differently are refused before they are judged


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/gemini/v1beta/models/gemini-2.0-flash/../gemini-2.5-pro:generateContent", id="dot-dot"),
        pytest.param("/gemini/v1beta/models/gemini-2.0-flash/%2e%2e/gemini-2.5-pro:generateContent", id="pct-2e"),
        pytest.param("/gemini/v1beta/models/gemini-2.0-flash/%2E./gemini-2.5-pro:generateContent", id="pct-2E-mixed"),
        pytest.param("/gemini/v1beta/models/gemini-2.0-flash%2F..%2Fgemini-2.5-pro:generateContent", id="pct-2F"),
        pytest.param("/gemini/v1beta/models/gemini-2.0-flash\\..\\gemini-2.5-pro:generateContent", id="backslash"),
        pytest.param(
            "/gemini/v1beta/models/gemini-2.0-flash:generateContent/../../models/gemini-2.5-pro:generateContent",
            id="dot-dot-after-the-method",
        ),
        pytest.param("/gemini/v1beta/models/./gemini-2.0-flash:generateContent", id="single-dot"),
    ],
)
def test_gemini_paths_with_dot_segments_or_encoded_separators_are_refused(gw, fake, narrow, path):
    headers = {"x-goog-api-key": narrow, "Content-Type": "application/json"}
    resp, data = raw_request(gw, "POST", path, GEMINI_BODY, headers)
    assert resp.status == 400, data
    err = orjson.loads(data)["error"]
    assert (err["code"], err["status"]) == (400, "INVALID_ARGUMENT") and "lmgate: the request path" in err["message"]
    assert fake.received == [], "the path never reaches the upstream"
    line = gw.stats_for(resp.getheader("X-Lmgate-Request-Id"))
    assert (line["status"], line["error_type"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    ("path", "headers", "body", "shape"),
    [
        pytest.param(
            VERTEX_MODELS + "gemini-2.0-flash/../gemini-2.5-pro:generateContent",
            {"x-goog-api-key": NARROW},
            GEMINI_BODY,
            lambda doc: doc["error"]["status"] == "INVALID_ARGUMENT",
            id="vertex",
        ),
        pytest.param(
            "/azure/openai/deployments/gpt-4o-mini/%2e%2e/gpt-5-pro/chat/completions?api-version=2024-10-21",
            {"api-key": NARROW},
            CHAT_BODY,
            lambda doc: doc["error"]["type"] == "invalid_request_error",
            id="azure",
        ),
        pytest.param(
            "/openai/v1/models/../chat/completions",
            {"Authorization": f"Bearer {NARROW}"},
            CHAT_BODY,
            lambda doc: doc["error"]["type"] == "invalid_request_error",
            id="openai",
        ),
    ],
)
def test_other_providers_refuse_dot_segments_in_their_shape(gw, fake, narrow, path, headers, body, shape):
    resp, data = raw_request(gw, "POST", path, body, {**headers, "Content-Type": "application/json"})
    assert resp.status == 400, data
    assert shape(orjson.loads(data)), data
    assert fake.received == []


def test_sdk_paths_are_untouched_and_judged_as_before(gw, fake, narrow):
    client = gemini(gw, key=narrow)  # held: a collected client closes its connection
    client.models.generate_content(model="gemini-2.0-flash", contents="hi")
    list(client.models.generate_content_stream(model="gemini-2.0-flash", contents="hi"))
    path = VERTEX_MODELS + "gemini-2.0-flash:generateContent"
    resp, data = raw_request(gw, "POST", path, GEMINI_BODY, {"x-goog-api-key": KEYS["gemini"]})
    assert resp.status == 200, data
    got = [r.raw_path for r in fake.received]
    assert len(got) == 3, got
    assert got[0].endswith("/models/gemini-2.0-flash:generateContent")
    assert got[1].endswith("/models/gemini-2.0-flash:streamGenerateContent?alt=sse")
    assert got[2] == path.removeprefix("/vertex")


# --- the body's model and the method, as the provider will read them


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"model":"gpt-5-pro","model":"gpt-4o-mini","messages":[]}', id="plain"),
        pytest.param(b'{"mod\\u0065l":"gpt-5-pro","model":"gpt-4o-mini","messages":[]}', id="escaped"),
    ],
)
def test_a_body_naming_its_model_twice_is_refused(gw, fake, narrow, body):
    # the gateway's parser keeps the last copy (allowed); a provider's may keep the first
    headers = {"Authorization": f"Bearer {narrow}", "Content-Type": "application/json"}
    resp, data = raw_request(gw, "POST", "/openai/v1/chat/completions", body, headers)
    assert resp.status == 400, data
    message = orjson.loads(data)["error"]["message"]
    assert "repeats a key" in message and "model" in message, message
    assert fake.received == []


def test_a_body_mentioning_model_twice_below_the_top_level_passes(gw, fake, narrow):
    tool = {"type": "function", "function": {"name": "pick", "parameters": {"properties": {"model": {}}}}}
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": '"model"'}], "tools": [tool]})
    headers = {"Authorization": f"Bearer {narrow}", "Content-Type": "application/json"}
    resp, data = raw_request(gw, "POST", "/openai/v1/chat/completions", body, headers)
    assert resp.status == 200, data


def test_a_get_overridden_to_post_is_no_read_only_request(gw, fake, narrow):
    # Google runs it as the POST it names; a tuned-model endpoint names no model the rules could judge
    path = "/vertex/v1/projects/p1/locations/us-central1/endpoints/1234:generateContent"
    headers = {"x-goog-api-key": narrow, "X-HTTP-Method-Override": "POST", "Content-Type": "application/json"}
    resp, data = raw_request(gw, "GET", path, GEMINI_BODY, headers)
    assert resp.status == 403, data
    assert "could not be determined" in orjson.loads(data)["error"]["message"]
    resp, data = raw_request(gw, "GET", path.replace(":generateContent", "?$httpMethod=POST"), GEMINI_BODY, headers)
    assert resp.status == 403, data
    assert fake.received == []
