"""JSON inputs: JSON Lines, a JSON array of objects, and a Twitter/X archive's tweets.js.

A JSON array and an archive's tweets.js have no line to stop at: they are decoded a chunk at a time and
parsed item by item with ijson (``data.json_stream``), so memory holds one tweet and one chunk whether the
file is 5 MB or 5 GB (parsed whole, a 556 MB tweets.js took over 3 GiB).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Generator, Iterable, Iterator
from decimal import Decimal
from pathlib import Path

from . import json_stream
from .errors import DataError
from .read_lines import AUTHOR_FIELDS, SNIFF_BYTES, STRUCTURED_LINE_CHARS, TEXT_FIELDS, ReadTally, iter_lines
from .records import Record

ARCHIVE_PREFIX = re.compile(r"^\s*window\.YTD\.[\w.]+\s*=\s*")


def _field(item: dict, wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    """The key of ``item`` to use: the wanted one, else the first candidate present."""
    keys = {key.lower(): key for key in item}
    for name in [wanted.lower()] if wanted else candidates:
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


def _records_from_objects(
    path: Path,
    items: Iterable[tuple[int, object]],
    author_col: str | None,
    text_col: str | None,
    max_chars: int,
    tally: ReadTally,
) -> Iterator[Record]:
    """Records from JSON objects; the text and author keys are chosen on the first object."""
    text_key = author_key = None
    for number, item in items:
        if not isinstance(item, dict):
            raise DataError(
                f"{path}: line {number} is not a JSON object; give one object a line, like "
                '{"author": "paulg", "text": "..."}'
            )
        if text_key is None:
            text_key = _field(item, text_col, TEXT_FIELDS)
            if text_key is None:
                what = f"no field {text_col!r}" if text_col else "no text field"
                raise DataError(
                    f"{path}: {what} in the first object (keys: {', '.join(item) or 'none'}); "
                    "choose one with --text-col"
                )
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


def read_jsonl(
    path: Path, encoding: str, author_col: str | None, text_col: str | None, max_chars: int, tally: ReadTally
) -> Iterator[Record]:
    with open(path, "rb") as f:
        first = f.read(SNIFF_BYTES).lstrip().lstrip(b"\xef\xbb\xbf")[:1]
    if first == b"[":  # a JSON array: streamed item by item, as there is no line to stop at
        items = _json_array(
            path,
            encoding,
            tally,
            archive=False,
            expected="a JSON array of objects",
            not_an_array=f"{path}: not valid JSON (no array at the top); give a JSON array of "
            "objects, or one object a line",
        )
        yield from _records_from_objects(path, enumerate(items, 1), author_col, text_col, max_chars, tally)
        return

    def objects() -> Iterator[tuple[int, object]]:
        for number, line in iter_lines(path, encoding, max(max_chars, STRUCTURED_LINE_CHARS), tally):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError as err:
                raise DataError(f"{path}: line {number} is not valid JSON ({err}); fix it or delete it") from None

    yield from _records_from_objects(path, objects(), author_col, text_col, max_chars, tally)


def _json_array(
    path: Path, encoding: str, tally: ReadTally, *, archive: bool, expected: str, not_an_array: str
) -> Generator[object, None, None]:
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
            if len(head) >= SNIFF_BYTES:
                break
        if archive:
            match = ARCHIVE_PREFIX.match(head)
            if not match:
                raise DataError(
                    f"{path}: broken Twitter archive (no `window.YTD.<name>.part0 = [...]` at the top); "
                    "pass the tweets.js of an unmodified archive export"
                )
            head = head[match.end() :]
        head = head.lstrip()
        while not head:  # only whitespace so far: the array may start further on
            more = next(chunks, None)
            if more is None:
                break
            head = more.lstrip()
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
    items = _json_array(
        account,
        "utf-8",
        ReadTally(),
        archive=True,
        not_an_array=broken,
        expected='a list like [{"account": {"username": ...}}]',
    )
    try:
        first = next(items, None)  # the first item is all we need: the rest is never parsed
    finally:
        items.close()
    account_item = first.get("account") if isinstance(first, dict) else None
    if not isinstance(account_item, dict) or "username" not in account_item:
        raise DataError(broken)
    return _scalar_text(account_item["username"])


def read_twitter(path: Path, encoding: str, author: str | None, max_chars: int, tally: ReadTally) -> Iterator[Record]:
    """Tweets of an archive's tweets.js, streamed (see _json_array): archives run to gigabytes."""
    name = author if author is not None else _archive_author(path)
    items = _json_array(
        path,
        encoding,
        tally,
        archive=True,
        expected='a list like [{"tweet": {"full_text": ...}}]',
        not_an_array=f"{path}: broken Twitter archive (expected a list of tweets); pass an archive's tweets.js",
    )
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
