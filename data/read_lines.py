"""Reading a text file line by line with bounded memory, and the tally every reader keeps.

Files are read through ``readline(limit)``, so a 2 GB line never lands in memory or in a regex: it is
skipped and counted in ``ReadTally.too_long``. The line readers here serve the line format, plain text,
CSV and JSON Lines alike (``data.readers`` picks the format).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .records import Record

# Preferred first: an API export with both fields has the untruncated tweet in full_text.
TEXT_FIELDS = ("full_text", "text", "tweet", "content", "body")
# screen_name before name: Twitter's "name" is the display name ("Paul Graham"), not the handle.
AUTHOR_FIELDS = ("username", "screen_name", "user", "author", "name")
# CSV rows and JSON objects carry more than the text (a tweet object is often 5-10 kB), so their
# physical lines get a roomier cap; the text field itself is still held to max_chars.
STRUCTURED_LINE_CHARS = 1_000_000
SNIFF_BYTES = 65536


@dataclass
class ReadTally:
    """Counters a reader updates as it streams (mutable on purpose: the pipeline polls it for progress)."""

    too_long: int = 0
    no_text: int = 0
    bytes_read: int = 0
    default_author: str | None = None  # set when the input named no author and got ``default_author``


def ascii_compatible(encoding: str) -> bool:
    """True when ASCII bytes mean ASCII text, so lines can be split on b'\\n' before decoding."""
    try:
        return b"a\n".decode(encoding) == "a\n"
    except (UnicodeError, LookupError):
        return False


def iter_lines(path: Path, encoding: str, max_chars: int, tally: ReadTally) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline); lines over max_chars are skipped and counted.

    Lines are split as bytes and decoded one by one, so a decoding error names its exact byte offset.
    """
    if not ascii_compatible(encoding):
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


def paragraphs(lines: Iterable[str], max_chars: int, tally: ReadTally, author: str = "") -> Iterator[Record]:
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
