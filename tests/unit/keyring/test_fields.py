"""Every bad value of an editable field is refused naming that field, with the gateway's own checks."""

from __future__ import annotations

import pytest

from lmgate.keyring.fields import FieldError, cell, check_fields, check_id, check_row, editable
from lmgate.policies.registry import register_module

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.mark.parametrize(
    ("values", "field", "says"),
    [
        ({"colour": "red"}, "colour", "unknown field"),
        ({"api_key": "sk-x"}, "api_key", "unknown field"),  # never set by hand through here
        ({"owner": ""}, "owner", "cannot be empty"),
        ({"owner": "a\nb"}, "owner", "control characters"),
        ({"owner": 5}, "owner", "must be a string"),
        ({"models": "gpt 4o"}, "models", "contains a space"),
        ({"models": ";;"}, "models", "no model pattern"),
        ({"models": ["gpt-4o", "a;b"]}, "models", "without ';'"),
        ({"models": [1]}, "models", "without ';'"),
        ({"rpm": -1}, "rpm", "not a positive integer"),
        ({"rpm": "0"}, "rpm", "not a positive integer"),
        ({"rpm": 1.5}, "rpm", "not a positive integer"),
        ({"rpm": True}, "rpm", "must be a number"),
        ({"tpm": "ten"}, "tpm", "not a positive integer"),
        ({"max_parallel": -2}, "max_parallel", "not a positive integer"),
        ({"budget_usd": -5}, "budget_usd", "not a positive number"),
        ({"budget_usd": "nan"}, "budget_usd", "not a positive number"),
        ({"budget_period": "week"}, "budget_period", "not one of day, month, total"),
        ({"dlp": "maybe"}, "dlp", "not one of off, log, block, redact"),
        ({"expires": "tomorrow"}, "expires", "cannot read"),
        ({"expires": "2020-01-01"}, "expires", "in the past"),
        ({"expires": "2027-02-30"}, "expires", "cannot read"),
        ({"disabled": "yes"}, "disabled", "not true or false"),
        ({"disabled": 1}, "disabled", "must be true or false"),
        ({"upstream_key": "sk-live-secret-123"}, "upstream_key", "secret reference"),
        ({"upstream_key": "env:1BAD"}, "upstream_key", "environment variable name"),
    ],
)
def test_a_bad_value_names_its_field(values, field, says):
    with pytest.raises(FieldError) as e:
        check_fields(values, NOW)
    assert e.value.field == field
    assert says in e.value.message, e.value.message
    assert str(e.value).startswith(f"{field}: ")
    assert "sk-live-secret-123" not in str(e.value)  # a key pasted in the wrong place is not repeated


@pytest.mark.parametrize("bad", ["a,b", "a\nb", 'a"b', "#comment", "", " x", "a/b", "x" * 129, 7, None, "é"])
def test_ids_are_plain_words(bad):
    with pytest.raises(FieldError) as e:
        check_id(bad)
    assert e.value.field == "id"


def test_good_values_become_the_cells_the_file_holds():
    assert check_id("ci-bot_2.prod@team+x") == "ci-bot_2.prod@team+x"
    cells = check_fields(
        {
            "owner": " platform ",
            "models": ["gpt-4o*", " claude-* "],
            "rpm": 60,
            "budget_usd": 12.5,
            "budget_period": "DAY",
            "dlp": "Block",
            "expires": "90d",
            "disabled": True,
            "upstream_key": "ENV:OPENAI_KEY",
        },
        NOW,
    )
    assert cells == {
        "owner": "platform",
        "models": "gpt-4o*;claude-*",
        "rpm": "60",
        "budget_usd": "12.5",
        "budget_period": "day",
        "dlp": "block",
        "expires": "2027-04-15T08:00:00Z",
        "disabled": "true",
        "upstream_key": "env:OPENAI_KEY",
    }
    assert cell("expires", "2027-03-01", NOW) == "2027-03-01"  # a date stays a date (through that day)
    assert cell("expires", "2027-03-01T10:00:00+02:00", NOW) == "2027-03-01T08:00:00Z"


def test_null_and_empty_clear_a_cell():
    assert check_fields({"rpm": None, "models": "", "disabled": False, "expires": None}, NOW) == dict.fromkeys(
        ("rpm", "models", "disabled", "expires"), ""
    )


def test_rules_across_fields_name_the_field():
    with pytest.raises(FieldError) as e:
        check_row({"budget_period": "day"})
    assert e.value.field == "budget_period" and "without budget_usd" in e.value.message
    with pytest.raises(FieldError) as e:
        check_row({"upstream_key": "env:X", "client_secret": "env:Y"})
    assert e.value.field == "upstream_key"
    check_row({"budget_usd": "5", "budget_period": "total"})


def test_a_column_of_a_policy_from_policies_extra_is_editable_once_registered():
    # as loading a config that names it does (the e2e tests' gateways do, in this process too)
    register_module("tests.e2e.toy_policy")
    assert "max_model_chars" in editable()
    assert check_fields({"max_model_chars": 12}, NOW) == {"max_model_chars": "12"}
    assert check_fields({"max_model_chars": " 7 "}, NOW) == {"max_model_chars": "7"}
    with pytest.raises(FieldError) as e:  # its own setting's parser judges it
        check_fields({"max_model_chars": "many"}, NOW)
    assert (e.value.field, e.value.message) == ("max_model_chars", "'many' is not a positive integer")
    with pytest.raises(FieldError, match=r"known: owner, .*max_model_chars, dlp"):
        check_fields({"max_model_charz": 1}, NOW)
