"""A JSON array read as a stream: text decoded a chunk at a time, items parsed one at a time by ijson.

A JSON array (a tweets.js, an API dump) has no line to stop at, and parsed whole a 556 MB tweets.js took
over 3 GiB. Here memory holds one chunk (CHUNK_BYTES) and one item whatever the file's size. The readers
(data.readers) add the archive's ``window.YTD...`` prefix and their error messages.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import ijson

from .clean import valid_unicode
from .errors import DataError

# Bytes decoded at a time: ijson's own buffer size. Larger chunks cost memory (~10x the chunk, measured
# with tracemalloc), not time.
CHUNK_BYTES = 1 << 16
# A JSON escape of half a UTF-16 pair: the run of backslashes before it is even (escaped backslashes) and
# starts the run (no backslash before it); group 2 tells a high half (d8-db) from a low one (dc-df).
_SURROGATE_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u[dD]([89a-fA-F])[0-9a-fA-F]{2}")
_HIGH = frozenset("89abAB")


class JsonProblem(ValueError):
    """The text is not JSON; the message says what and where, in one line."""


def array_items(texts: Iterable[str]) -> Iterator[object]:
    """The items of the JSON array that ``texts`` (decoded text, from its ``[`` on) spell, one at a time."""
    pieces = (valid_unicode(text).encode("utf-8") for text in lone_surrogates_replaced(texts) if text)
    try:
        yield from ijson.items(ijson.from_iter(pieces), "item")  # from_iter takes b"" for the end: none is sent
    except ijson.JSONError as err:
        raise JsonProblem(_json_problem(err)) from None


def decoded(path: Path, f: BinaryIO, encoding: str) -> Iterator[tuple[str, int]]:
    """(text, bytes read so far) of ``f``, decoded a chunk at a time (strict, a leading BOM dropped); a
    decoding error names its byte offset, as the line readers' do."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset, started = 0, False
    while True:
        raw = f.read(CHUNK_BYTES)
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous chunk
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeError as err:  # a decode error, or a codec's own complaint (utf-16 without a BOM)
            where = f" at byte {offset - pending + err.start}" if isinstance(err, UnicodeDecodeError) else ""
            raise DataError(f"{path}: not valid {encoding}{where}; name its encoding with --encoding") from None
        offset += len(raw)
        if not started:
            text = text.lstrip("\ufeff")
            started = bool(text)
        if text:
            yield text, offset
        if not raw:
            return


def lone_surrogates_replaced(chunks: Iterable[str]) -> Iterator[str]:
    """JSON text with every escaped lone half of a UTF-16 pair ("\\udc00") made "\\ufffd", what json.loads
    and the cleaner's valid_unicode made of it. yajl turns a lone high half into "?", a lone low half into
    bytes Python refuses (the whole file failed) and two high halves into one wrong character; a tweet cut
    inside an emoji by a UTF-16 length limit holds exactly such a half.

    Chunks are cut anywhere, so the tail that may hold an unfinished escape (a backslash in the last 12
    characters, a high half whose partner may follow) waits for the next chunk: at most a few characters."""
    carry = ""
    for text in itertools.chain(chunks, [None]):
        buf = carry + (text or "")
        cut = len(buf)
        if text is not None:
            tail = buf.find("\\", max(0, len(buf) - 12))
            if tail >= 0:
                cut = tail
                while cut and buf[cut - 1] == "\\":  # never split a run of backslashes: its parity matters
                    cut -= 1
        if "\\ud" not in buf and "\\uD" not in buf:
            carry = buf[cut:]
            if cut:
                yield buf[:cut]
            continue
        out, done, paired_low = [], 0, -1
        for match in _SURROGATE_ESCAPE.finditer(buf, 0, cut):
            start, end = match.start() + len(match[1]), match.end()
            if match[2] in _HIGH:
                if end == cut and text is not None:  # its partner may start the text that waits
                    cut = match.start()
                    break
                partner = _SURROGATE_ESCAPE.match(buf, end)
                if partner and not partner[1] and partner[2] not in _HIGH:
                    paired_low = end
                    continue
            elif start == paired_low:
                continue
            out.append(buf[done:start])
            out.append("\\ufffd")
            done = end
        out.append(buf[done:cut])
        carry = buf[cut:]
        yield "".join(out)


def _json_problem(err: Exception) -> str:
    """ijson's (yajl's) multi-line message as one line: the problem, then the text just before it."""
    lines = str(err).splitlines()
    problem = " ".join(lines[0].split()).rstrip(".") if lines else "parse error"
    near = " ".join(lines[1].split()) if len(lines) > 1 else ""
    return f"{problem} near {near!r}" if near else problem
