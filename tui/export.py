"""Files the app writes for the user (``/save``) never replace one that is there.

A second ``/save chat.md`` writes ``chat-2.md`` beside the first and says so: in a browser there is no
good way to ask "replace it?", and a name that is taken may be someone else's file. The text goes to a
temporary file first and is then linked under the first free name; ``os.link`` fails when the name
exists, so even a file created meanwhile is never replaced, and no half-written file is ever seen.
The file is readable by its owner only (mkstemp's mode), as the chat was: on a shared machine a chat
is not everyone's to read.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .root import PathRefused

if TYPE_CHECKING:
    from .root import Root
    from .session import Session

MAX_NUMBER = 10_000  # chat-2.md ... chat-9999.md, then give up with a one-line error


def candidates(target: Path):
    """``target``, then ``stem-2.suffix``, ``stem-3.suffix``, ... beside it."""
    yield target
    for number in range(2, MAX_NUMBER):
        yield target.with_name(f"{target.stem}-{number}{target.suffix}")


def write_new(target: str | Path, text: str) -> Path:
    """Write ``text`` to ``target``, or to the first free ``stem-N.suffix`` beside it; returns the file written.
    Raises ``OSError`` (a directory it may not create, every name taken, ...)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        for candidate in candidates(target):
            try:
                os.link(tmp, candidate, follow_symlinks=False)
                return candidate
            except FileExistsError:
                continue
            except OSError as err:  # a file system without hard links: create exclusively instead
                if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
                    raise
                return _write_exclusive(candidates(target), text)
        raise OSError(errno.EEXIST, f"{target} and {MAX_NUMBER - 2} numbered names beside it exist")
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_chat(session: Session, path: str | None, root: Root, run_dir: Path | None, title: str) -> str:
    """``/save [PATH]``: ``session`` as markdown into a new file (an existing one is kept: ``chat-2.md``); the
    default is the run's ``chat.md``, else a dated file here. Under a root (a served app) the path must stay
    inside it and end in .md, so no text typed in the chat can become a shell's start-up file or a key file.
    Returns the line to show; raises PathRefused (one line, with the fix)."""
    if path:
        given = path
    elif run_dir is not None:
        given = str(run_dir / "chat.md")
    else:
        given = f"tweetsmith-chat-{time.strftime('%Y%m%d-%H%M%S')}.md"
    target = root.path(given, "/save")
    if root.confined and target.suffix.lower() != ".md":
        raise PathRefused(
            f"/save writes markdown here: give a name ending in .md, e.g. /save {target.stem or 'chat'}.md"
        )
    if target.is_dir():
        raise PathRefused(
            f"/save: {given} is a directory; give a file name in it, e.g. /save {Path(given) / 'chat.md'}"
        )
    try:
        saved = write_new(target, session.to_markdown(title))
    except (OSError, ValueError) as err:  # ValueError: a NUL in the name, refused before any OS call
        raise PathRefused(
            f"could not write {target!r}: {getattr(err, 'strerror', None) or err}; give another path: /save PATH"
        ) from None
    kept = f"{target.name} exists and is kept: " if saved != target else ""
    return f"{kept}saved {len(session.entries)} samples to {saved}"


def _write_exclusive(names, text: str) -> Path:
    for candidate in names:
        try:
            with open(candidate, "x", encoding="utf-8") as f:
                f.write(text)
            return candidate
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, f"every name up to -{MAX_NUMBER - 1} is taken")
