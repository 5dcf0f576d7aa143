"""CSV and TSV inputs: a header row names the text column (and the author's), found by name."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from .errors import DataError
from .read_lines import AUTHOR_FIELDS, STRUCTURED_LINE_CHARS, TEXT_FIELDS, ReadTally, iter_lines
from .records import Record


def _pick(names: list[str], wanted: str | None, candidates: tuple[str, ...]) -> int | None:
    """Index of the wanted column (case-insensitive), else of the first candidate present, else None."""
    lowered = [name.strip().lower() for name in names]
    for name in [wanted.strip().lower()] if wanted else candidates:
        if name in lowered:
            return lowered.index(name)
    return None


def csv_delimiter(header: str, text_col: str | None) -> str | None:
    """The delimiter that makes ``header`` a header with a text column, or None."""
    for delimiter in ("\t", ",", ";", "|"):
        if delimiter in header or delimiter == ",":
            try:
                names = next(csv.reader([header], delimiter=delimiter), [])
            except csv.Error:  # a stray carriage return or NUL: not a header
                continue
            if _pick(names, text_col, TEXT_FIELDS) is not None:
                return delimiter
    return None


def consistent_rows(head: str, delimiter: str) -> bool:
    """True when the first data row has as many fields as the header, so "Body, mind and soul" opening a
    speech is not taken for a header."""
    complete = head[: head.rfind("\n") + 1] or head  # the sniffed head may end mid-line
    try:
        rows = [row for row in csv.reader(io.StringIO(complete), delimiter=delimiter) if row][:2]
    except csv.Error:  # not even CSV
        return False
    return len(rows) < 2 or len(rows[1]) == len(rows[0])


def read_csv(
    path: Path,
    format: str,
    encoding: str,
    author_col: str | None,
    text_col: str | None,
    max_chars: int,
    tally: ReadTally,
) -> Iterator[Record]:
    lines = (line + "\n" for _, line in iter_lines(path, encoding, max(max_chars, STRUCTURED_LINE_CHARS), tally))
    header_line = next(lines, "")
    delimiter = "\t" if format == "tsv" else (csv_delimiter(header_line, text_col) or ",")
    try:
        names = next(csv.reader([header_line], delimiter=delimiter), [])
    except csv.Error as err:
        raise DataError(
            f"{path}: bad CSV header ({err}); fix its first line, or read it as plain text with --format text"
        ) from None
    text_index = _pick(names, text_col, TEXT_FIELDS)
    if text_index is None:
        what = f"no column {text_col!r}" if text_col else "no text column"
        raise DataError(f"{path}: {what} (columns: {', '.join(names) or 'none'}); choose one with --text-col")
    author_index = _pick(names, author_col, AUTHOR_FIELDS)
    if author_col and author_index is None:
        raise DataError(f"{path}: no column {author_col!r} (columns: {', '.join(names)}); fix --author-col")
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        for row in reader:
            if not row:
                continue
            if len(row) <= text_index:
                tally.no_text += 1
                continue
            text = row[text_index]
            if len(text) > max_chars:
                tally.too_long += 1
                continue
            author = row[author_index] if author_index is not None and len(row) > author_index else ""
            yield Record(author, text)
    except csv.Error as err:
        raise DataError(
            f"{path}: bad CSV near row {reader.line_num + 1} ({err}); fix its quoting, or read it as plain "
            "text with --format text"
        ) from None
