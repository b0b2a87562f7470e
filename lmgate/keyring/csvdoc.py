"""The allow-list CSV as a document that can be edited without losing anything the editor did not touch.

Comments, blank lines, the header's column order, columns the editor does not
know, quoting and line endings stay as they were: a record that is not edited
keeps its text byte for byte. Records are split with the same ``csv`` reader
and the same comment rule as ``lmgate.allowlist.parse_allowlist``, so both
read one file the same way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(slots=True)
class Record:
    """One CSV record: its cells and, until edited, its text as in the file (line ending included)."""

    cells: list[str]
    raw: str | None


def _is_comment(cells: list[str]) -> bool:
    """As the allow-list parser: empty records, blank ones and those whose first cell starts with ``#``."""
    return not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#")


def _split_ending(text: str) -> tuple[str, str]:
    body = text.rstrip("\r\n")
    return body, text[len(body) :]


class CsvDocument:
    """``parse`` a file's text, edit records by column name, ``render`` the text to write back."""

    def __init__(self, bom: str, items: list[str | Record], header: Record | None, newline: str) -> None:
        self._bom = bom
        self._items = items  # a str is a comment or blank line, kept verbatim
        self._header = header
        self.newline = newline

    @classmethod
    def parse(cls, text: str) -> CsvDocument:
        bom = "\ufeff" if text.startswith("\ufeff") else ""
        text = text[len(bom) :]
        newline = "\r\n" if text.split("\n", 1)[0].endswith("\r") else "\n"  # the first line's ending
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in io.StringIO(text, newline=""):
                consumed.append(line)
                yield line

        items: list[str | Record] = []
        header: Record | None = None
        for cells in csv.reader(lines()):
            raw = "".join(consumed)  # the reader takes exactly the lines of one record
            consumed.clear()
            if _is_comment(cells):
                items.append(raw)
                continue
            record = Record(cells, raw)
            header = header or record
            items.append(record)
        return cls(bom, items, header, newline)

    # --- reading
    @property
    def columns(self) -> list[str]:
        """Column names as the parser reads them (stripped, lower-case), in file order."""
        return [] if self._header is None else [c.strip().lower() for c in self._header.cells]

    def records(self) -> list[Record]:
        """The data records (after the header), in file order."""
        return [i for i in self._items if isinstance(i, Record) and i is not self._header]

    def get(self, record: Record, column: str) -> str:
        columns = self.columns
        if column not in columns:
            return ""
        i = columns.index(column)
        return record.cells[i].strip() if i < len(record.cells) else ""

    def find(self, column: str, value: str) -> Record | None:
        return next((r for r in self.records() if self.get(r, column) == value), None)

    # --- editing
    def set(self, record: Record, column: str, value: str) -> None:
        """Set a cell; a column the file lacks is added at the end of the header (empty in other rows)."""
        if self.get(record, column) == value:
            return
        self.ensure_column(column)
        i = self.columns.index(column)
        record.cells.extend([""] * (i + 1 - len(record.cells)))  # a short record: the parser refuses the file
        record.cells[i] = value
        record.raw = None

    def ensure_column(self, column: str) -> None:
        if column in self.columns:
            return
        if self._header is None:
            raise ValueError("the file has no header line")
        for record in [self._header, *self.records()]:
            self._append_cell(record, column if record is self._header else "")

    def append(self, values: dict[str, str]) -> Record:
        """A new record at the end of the file, its cells in the header's order."""
        for column in values:
            self.ensure_column(column)
        record = Record([values.get(c, "") for c in self.columns], None)
        if self._items and isinstance(self._items[-1], str) and not self._items[-1].endswith(("\n", "\r")):
            self._items[-1] += self.newline
        last = self._items[-1] if self._items else None
        if isinstance(last, Record) and last.raw is not None and not last.raw.endswith(("\n", "\r")):
            last.raw += self.newline
        self._items.append(record)
        return record

    def remove(self, record: Record) -> None:
        self._items.remove(record)

    def _append_cell(self, record: Record, value: str) -> None:
        record.cells.append(value)
        if record.raw is not None:  # keep the record's own text (its quoting) and add one cell to it
            body, ending = _split_ending(record.raw)
            cell = self._line([value]).rstrip("\r\n") if value else ""  # csv writes a lone empty cell as ""
            record.raw = body + "," + cell + ending

    # --- writing
    def _line(self, cells: list[str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator=self.newline).writerow(cells)
        return out.getvalue()

    def render(self) -> str:
        parts = [self._bom]
        for item in self._items:
            if isinstance(item, str):
                parts.append(item)
            else:
                parts.append(item.raw if item.raw is not None else self._line(item.cells))
        return "".join(parts)
