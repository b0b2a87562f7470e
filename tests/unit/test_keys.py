import pytest
from multidict import CIMultiDict

from lmgate.keys import CREDENTIAL_PLACES, credential_places, describe_places, extract_key, mask_key

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


@pytest.mark.parametrize(
    ("headers", "query", "places"),
    [
        ([("X-Api-Key", "k1")], "", ["x-api-key"]),
        ([("X-Api-Key", "k1"), ("x-api-key", "k1")], "", ["x-api-key", "x-api-key"]),  # equal copies count too
        ([("x-api-key", "k1"), ("Authorization", "Bearer k2")], "", ["authorization", "x-api-key"]),
        ([("Authorization", "Basic dXNlcjpwYXNz")], "", ["authorization"]),  # any scheme is a credential
        ([("x-api-key", "k1"), ("Authorization", "  ")], "", ["x-api-key"]),  # an empty header carries none
        ([("x-goog-api-key", "k1")], "alt=sse&key=k2", ["x-goog-api-key", "?key"]),
        ([], "key=k1&key=k2", ["?key", "?key"]),
        ([], "%6Bey=k1", ["?key"]),  # names are decoded, as the provider decodes them
        ([], "alt=sse;key=k1", ["?key"]),  # ; may separate parameters
        ([], "access_token=t&oauth_token=t2", ["?access_token", "?oauth_token"]),
        ([], "key=&monkey=1&api-version=2024-10-21", []),
        (
            [("Ocp-Apim-Subscription-Key", "s")],
            "subscription-key=s2",
            ["ocp-apim-subscription-key", "?subscription-key"],
        ),
        ([("Content-Type", "application/json"), ("X-Lmgate-Uri", "/v1?key=x")], "", []),
    ],
)
def test_credential_places_counts_every_copy_in_every_place(headers, query, places):
    assert credential_places(CIMultiDict(headers), query) == places


def test_credential_places_reads_plain_mappings_case_insensitively():
    assert credential_places({"X-Goog-Api-Key": "k", "API-KEY": "k2"}, "") == ["x-goog-api-key", "api-key"]


def test_describe_places_names_places_and_copies_never_values():
    text = describe_places(["x-api-key", "?key", "x-api-key"])
    assert text == "x-api-key header (2 copies), ?key= query parameter"


def test_the_cheap_query_test_lets_every_credential_parameter_through():
    for place in CREDENTIAL_PLACES:
        if place.startswith("?"):
            assert credential_places({}, "alt=sse&" + place[1:] + "=v") == [place]
