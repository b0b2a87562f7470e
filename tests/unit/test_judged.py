import pytest
from multidict import CIMultiDict

from lmgate.judged import AmbiguousPath, judged_path, read_only


@pytest.mark.parametrize(
    ("raw", "judged"),
    [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v1beta/models/gemini-2.0-flash:generateContent", "/v1beta/models/gemini-2.0-flash:generateContent"),
        ("/v1beta/models/gemini-2.0-flash%3AgenerateContent", "/v1beta/models/gemini-2.0-flash:generateContent"),
        ("/openai/deployments/gpt%2D5-pro/chat/completions", "/openai/deployments/gpt-5-pro/chat/completions"),
        ("/v1beta/models//gemini-2.5-pro:generateContent", "/v1beta/models/gemini-2.5-pro:generateContent"),
        ("//v1/models/", "/v1/models/"),
        ("/v1/files/.hidden/...", "/v1/files/.hidden/..."),  # not dot segments: only '.' and '..' are
    ],
)
def test_a_path_is_judged_as_the_provider_reads_it(raw, judged):
    assert judged_path(raw) == judged


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("/v1beta/models/gemini-2.0-flash/../gemini-2.5-pro:generateContent", "'..'"),
        ("/v1beta/models/./gemini-2.0-flash:generateContent", "'..'"),
        ("/v1beta/models/a/%2e%2e/b", "'..'"),
        ("/v1beta/models/a/%2E./b", "'..'"),
        ("/v1beta/models/a/.%2E", "'..'"),
        ("/v1beta/models/a/..;x/b", "'..'"),
        ("/v1beta/models/a//../b", "'..'"),
        ("/v1beta/models/a%2F..%2Fb:generateContent", "%2F"),
        ("/v1beta/models/a%2fb", "%2F"),
        ("/v1beta/models/a%5Cb", "%5C"),
        ("/v1beta/models/a\\..\\b", "backslash"),
    ],
)
def test_paths_upstreams_may_read_otherwise_are_refused(raw, why):
    with pytest.raises(AmbiguousPath, match=why):
        judged_path(raw)


def test_names_with_encoded_slashes_stay_encoded_but_are_checked():
    arn = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fanthropic.claude-3-5-haiku-v1%3A0/converse"
    assert judged_path(arn, slashes_in_names=True) == arn
    assert judged_path("/model//m/converse", slashes_in_names=True) == "/model/m/converse"
    for bad in ("/model/a%2F..%2Fb/converse", "/model/a%2F.%2Fb/converse", "/model/a%5Cb/converse", "/model/../x"):
        with pytest.raises(AmbiguousPath):
            judged_path(bad, slashes_in_names=True)


@pytest.mark.parametrize(
    ("method", "headers", "query", "expected"),
    [
        ("GET", {}, "", True),
        ("HEAD", {}, "alt=json", True),
        ("POST", {}, "", False),
        ("GET", {"X-HTTP-Method-Override": "POST"}, "", False),
        ("GET", {"x-http-method": "POST"}, "", False),
        ("GET", {"X-Method-Override": "PUT"}, "", False),
        ("GET", {}, "$httpMethod=POST", False),
        ("GET", {}, "%24httpMethod=POST", False),
    ],
)
def test_read_only_means_the_upstream_runs_a_get_or_head(method, headers, query, expected):
    assert read_only(method, CIMultiDict(headers), query) is expected
