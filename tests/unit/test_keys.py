import pytest

from lmgate.keys import extract_key, mask_key

ALL = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "?key")


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"authorization": "Bearer sk-test-1"}, "", "sk-test-1"),
        ({"authorization": "bearer   sk-test-1 "}, "", "sk-test-1"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "", None),
        ({"x-api-key": "sk-ant-test"}, "", "sk-ant-test"),
        ({"api-key": "azure-test"}, "", "azure-test"),
        ({"x-goog-api-key": "AIza-test"}, "", "AIza-test"),
        ({}, "alt=sse&key=AIza-q", "AIza-q"),
        ({}, "monkey=1", None),
        ({}, "", None),
        ({"authorization": ""}, "", None),
    ],
)
def test_extract_key(headers, query, expected):
    assert extract_key(headers, query, ALL) == expected


def test_sources_are_tried_in_the_providers_order():
    headers = {"authorization": "Bearer from-bearer", "x-api-key": "from-x-api-key"}
    assert extract_key(headers, "", ("x-api-key", "authorization")) == "from-x-api-key"
    assert extract_key(headers, "", ("authorization", "x-api-key")) == "from-bearer"


@pytest.mark.parametrize(
    ("key", "masked"),
    [("sk-test-abcdefghijklmnop", "…klmnop"), ("short", "…t"), ("abc", "…"), (None, None)],
)
def test_mask_shows_at_most_six_and_never_the_whole_key(key, masked):
    assert mask_key(key) == masked
