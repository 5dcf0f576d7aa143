"""How the app words a failure, in one place: the project's own errors are the user's to fix and show
their message; anything else is a bug, logged with its traceback to a file the notification names.

Workers catch what their work raises and post a ``...Failed`` message carrying ``error_text(err)``;
they call it in their own thread, so the traceback is written before the UI hears of the failure.
The log lives in the user's state directory (``platformdirs.user_state_dir("tweetsmith")/log``), or
under ``$TWEETSMITH_STATE`` when set (tests point it at a temporary directory).
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from pathlib import Path

from tweetsmith.data.errors import TweetsmithError  # the base of DataError and EngineError: the user's to fix

LOG_NAME = "tweetsmith.log"
_write_lock = threading.Lock()  # workers of several threads may fail at once: one traceback after another


def state_dir() -> Path:
    """Where the app keeps what it writes about itself (the log): ``$TWEETSMITH_STATE`` or the platform's."""
    override = os.environ.get("TWEETSMITH_STATE")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return platformdirs.user_state_path("tweetsmith")


def log_path() -> Path:
    return state_dir() / "log" / LOG_NAME


def log_bug(err: BaseException) -> Path:
    """Append ``err``'s traceback, with the time, to the log file; returns the file."""
    path = log_path()
    lines = traceback.format_exception(type(err), err, err.__traceback__)
    entry = f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} (pid {os.getpid()})\n{''.join(lines)}\n"
    with _write_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(entry)
    return path


def error_text(err: BaseException) -> str:
    """The one line a notification shows for ``err``. A project error is its own message; anything else
    is a bug: it is logged with its traceback and the line says where (if even the log can't be written,
    the line says that instead)."""
    if isinstance(err, TweetsmithError):
        return str(err)
    what = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    try:
        where = f"its traceback is in {log_bug(err)}"
    except OSError as log_err:
        where = f"and the log could not be written ({log_err.strerror or log_err})"
    return f"{' '.join(what.splitlines())} (a bug in tweetsmith; {where})"
