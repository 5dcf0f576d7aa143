"""JSON Lines that tweetsmith writes (metrics.jsonl, samples/*.jsonl, the chat's chat.jsonl): appended a
line at a time, read back forgiving a torn last line.

A line is appended with one ``write`` on a file opened with ``O_APPEND``: the file is never rewritten, so
appending costs the new line only and a crash can damage nothing but the line being written. That line,
cut by a full disk, a power loss or a SIGKILL, is the last one; reading ignores it with a one-line notice
(``JsonLines.torn``) instead of failing, and the next append first cuts it off, so it never ends up in the
middle of the file. A broken line anywhere else is not a torn write: it is an error naming the line.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("tweetsmith.notices")


class BrokenJsonLines(ValueError):
    """A line before the last one is not JSON: the file was not (only) written by tweetsmith."""


@dataclass(frozen=True)
class JsonLines:
    records: list[Any]
    torn: str | None = None  # the notice when the last line was torn and left out


def read_jsonl(path: str | Path) -> JsonLines:
    """The records of ``path`` (missing: none); a torn last line is left out and named in ``torn``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return JsonLines([])
    lines = text.split("\n")
    records, torn = [], None
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number != len(lines) - 1:  # a whole line (it has its newline) that is not JSON: not a torn write
                raise BrokenJsonLines(f"{path}:{number + 1}: not a JSON line ({err.msg})") from None
            torn = f"{path}: its last line is incomplete (an interrupted write) and was left out"
    return JsonLines(records, torn)


def read_jsonl_records(path: str | Path) -> list[Any]:
    """``read_jsonl``'s records, with the torn-line notice sent to the ``tweetsmith.notices`` logger (the CLI
    prints it as one line on stderr)."""
    result = read_jsonl(path)
    if result.torn:
        log.warning(result.torn)
    return result.records


def append_jsonl(path: str | Path, records: Iterable[Any]) -> Path:
    """Append one JSON line per record (creating the file and its folder); a torn last line left by an
    interrupted write is cut off first, so the new lines start on a line of their own."""
    path = Path(path)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _cut_torn_tail(fd)
        if data:
            os.write(fd, data)
    finally:
        os.close(fd)
    return path


def _cut_torn_tail(fd: int) -> None:
    """Truncate the file after its last newline when it does not end with one (only the torn line goes)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    chunk, end = 4096, size
    while end > 0:
        start = max(0, end - chunk)
        block = os.pread(fd, end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        end = start
    os.ftruncate(fd, 0)
