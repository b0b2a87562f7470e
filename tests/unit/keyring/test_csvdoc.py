"""The CSV editor keeps every byte it was not asked to change, and reads records as the allow-list parser does."""

from __future__ import annotations

import pytest

from lmgate.allowlist import parse_allowlist
from lmgate.keyring.csvdoc import CsvDocument

HASH = "sha256:" + "ab" * 32
ORIGINAL = (
    "\ufeff# keys of the research team\r\n"
    "id,api_key,owner,added,client_secret\r\n"
    "\r\n"
    'alice,"sk-test-alice-1","Research, Inc." ,2026-01-01,\r\n'
    '# a comment, with "quotes", between rows\r\n'
    f'bob,{HASH},"multi\r\nline owner",2026-01-02,env:BOB_SECRET'
)  # no line ending after the last record


def test_an_unedited_document_renders_byte_for_byte():
    for text in (ORIGINAL, "", "id,api_key,owner,added\n", "id,api_key,owner,added", "# only\n\n"):
        assert CsvDocument.parse(text).render() == text


def test_records_columns_and_cells_are_the_parsers():
    doc = CsvDocument.parse(ORIGINAL)
    assert doc.columns == ["id", "api_key", "owner", "added", "client_secret"]
    assert [doc.get(r, "id") for r in doc.records()] == ["alice", "bob"]
    assert doc.get(doc.find("id", "alice"), "owner") == "Research, Inc."  # stripped, as the parser does
    assert doc.get(doc.find("id", "bob"), "owner") == "multi\r\nline owner"
    assert doc.get(doc.find("id", "bob"), "no_such_column") == ""
    assert doc.find("id", "carol") is None
    assert len(parse_allowlist(ORIGINAL)) == 2


def test_an_edit_rewrites_only_its_record_and_keeps_comments_bom_and_line_endings():
    doc = CsvDocument.parse(ORIGINAL)
    doc.set(doc.find("id", "bob"), "owner", "platform")
    out = doc.render()
    assert out.startswith("\ufeff# keys of the research team\r\n")
    assert 'alice,"sk-test-alice-1","Research, Inc." ,2026-01-01,\r\n' in out  # untouched: quoting and spaces
    assert '# a comment, with "quotes", between rows\r\n' in out
    assert out.endswith(f"bob,{HASH},platform,2026-01-02,env:BOB_SECRET\r\n")
    assert parse_allowlist(out).by_hash[HASH[7:]].owner == "platform"


def test_a_new_column_goes_to_the_end_of_the_header_and_other_rows_get_an_empty_cell():
    doc = CsvDocument.parse(ORIGINAL)
    doc.set(doc.find("id", "alice"), "expires", "2027-01-31")
    out = doc.render()
    assert "id,api_key,owner,added,client_secret,expires\r\n" in out
    assert 'alice,sk-test-alice-1,"Research, Inc. ",2026-01-01,,2027-01-31\r\n' in out  # its cells, re-quoted
    assert f'bob,{HASH},"multi\r\nline owner",2026-01-02,env:BOB_SECRET,' in out  # its own text, one cell more
    entries = {e.id: e for e in parse_allowlist(out).entries()}
    assert entries["alice"].extra["expires"] == "2027-01-31" and "expires" not in entries["bob"].extra


def test_append_after_a_last_line_without_ending_and_remove():
    doc = CsvDocument.parse(ORIGINAL)
    doc.append({"id": "carol", "api_key": "sk-test-carol-1", "owner": "o, p", "added": "2026-03-01", "rpm": "5"})
    out = doc.render()
    assert out.endswith(',env:BOB_SECRET,\r\ncarol,sk-test-carol-1,"o, p",2026-03-01,,5\r\n')
    doc = CsvDocument.parse(out)
    doc.remove(doc.find("id", "alice"))
    entries = [e.id for e in parse_allowlist(doc.render()).entries()]
    assert entries == ["bob", "carol"]


@pytest.mark.parametrize("value", ['with "quotes"', "a,b", "#hash", " padded "])
def test_values_that_need_quoting_read_back_as_written(value):
    doc = CsvDocument.parse("id,api_key,owner,added\n")
    doc.append({"id": "x", "api_key": "sk-test-x-123", "owner": value, "added": ""})
    assert parse_allowlist(doc.render()).lookup("sk-test-x-123").owner == value.strip()
