"""One writer per directory: a lock held for the whole life of a training, a resume or an assignment.

Two trainings writing one run (two shells, two browser tabs, the app and the CLI) would interleave their
checkpoints and metrics. The lock is ``fcntl.flock`` on a small file inside the directory: the kernel
releases it when the holder's file is closed, so a holder killed with SIGKILL (or a machine that
rebooted) never leaves a stale lock behind, unlike a pid file whose presence is the lock. The file keeps
the holder's pid and purpose only so that the refusal can name them.

On a platform without ``fcntl`` (Windows) there is no lock: training works, unguarded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import EngineError

LOCK_FILE = ".tweetsmith.lock"


class DirectoryBusy(EngineError):
    """Another process holds the directory's lock."""


def lock_path(directory: str | Path) -> Path:
    return Path(directory) / LOCK_FILE


def holder_of(directory: str | Path) -> str:
    """``pid 1234 (training)`` as the holder wrote it, or ``another process`` when it cannot be read."""
    try:
        pid, _, purpose = lock_path(directory).read_text(encoding="utf-8").strip().partition(" ")
    except OSError:
        return "another process"
    if not pid.isdigit():
        return "another process"
    return f"pid {pid}" + (f" ({purpose})" if purpose else "")


@contextlib.contextmanager
def holding(directory: str | Path, purpose: str) -> Iterator[Path]:
    """Hold ``directory``'s lock within the block (creating the directory); raise ``DirectoryBusy`` at once,
    with the holder's pid, when another process holds it. ``purpose`` (``training``, ``assignment``) is
    what a refused process is told the holder is doing."""
    try:
        import fcntl
    except ImportError:  # no flock on this platform: nothing to hold
        yield Path(directory)
        return
    directory = Path(directory)
    made = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(directory), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DirectoryBusy(
                f"{directory} is in use by {holder_of(directory)}: wait for it to end, or stop it, "
                "then try again (one training or assignment per directory)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {purpose}\n".encode(), 0)
        try:
            yield directory
        except BaseException:
            if made:  # a refusal before anything was written leaves no directory behind
                _remove_if_only_lock(directory)
            raise
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # the lock is released with the file; the pid would only mislead
    finally:
        os.close(fd)


def _remove_if_only_lock(directory: Path) -> None:
    with contextlib.suppress(OSError):
        if [p.name for p in directory.iterdir()] == [LOCK_FILE]:
            lock_path(directory).unlink()
            directory.rmdir()
