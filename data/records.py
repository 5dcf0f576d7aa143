"""Records and the assignment's line format.

A record is (author, text). On disk each record is one line, ``\\author- text``; a line without the
prefix is a record with an empty author. Engine code (training, perplexity, generation) reads and
writes this format through these functions only, so there is one definition of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

# The author runs from the backslash to the first "-" (then an optional space); authors hold no
# whitespace and no "-" (data.clean.author_token turns "-" into "_").
_LINE = re.compile(r"^\\(\S*?)- ?(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Record:
    author: str
    text: str


def format_line(record: Record) -> str:
    """The line for a record: ``\\author- text``, or just the text when the author is empty.

    An authorless text that itself looks like a prefixed line ("\\x- y", from a plain text file, say)
    gets an empty prefix, ``\\- \\x- y``, so that it reads back as that text and not as author "x"."""
    if record.author:
        return f"\\{record.author}- {record.text}"
    if record.text.startswith("\\") and _LINE.match(record.text):
        return f"\\- {record.text}"
    return record.text


def parse_line(line: str) -> Record:
    """Parse one line of the line format; a line without the prefix has an empty author."""
    line = line.rstrip("\r\n")
    match = _LINE.match(line)
    if match:
        return Record(match.group(1), match.group(2))
    return Record("", line)


def prompt_for(author: str, text: str = "") -> str:
    """Generation prompt for an author: ``\\author- `` plus any text the user typed."""
    author = author.strip().lstrip("@")
    return (f"\\{author}- " if author else "") + text


def read_split_lines(path: str | Path) -> list[str]:
    """The non-empty lines of a split file in line format, newline stripped.

    Raises DataError for a missing file or one that is not UTF-8, naming the file and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; run `tweetsmith prepare` to make the splits")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not valid UTF-8 at byte {err.start}; re-save it as UTF-8 "
            "or run `tweetsmith prepare --encoding ...` on it"
        ) from None
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def read_split(path: str | Path) -> list[Record]:
    """The records of a split file in line format."""
    return [parse_line(line) for line in read_split_lines(path)]


def authors_by_frequency(path: str | Path, limit: int = 5000) -> list[str]:
    """The authors of a split file, most frequent first, at most ``limit`` (none for a missing file): the
    names the chat's input completes from."""
    from collections import Counter

    if not Path(path).is_file():
        return []
    counts = Counter(record.author for record in read_split(path) if record.author)
    return [author for author, _ in counts.most_common(limit)]
