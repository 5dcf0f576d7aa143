"""Putting prepare's finished splits in place: DIR holds the whole old set or the whole new one, never a mix.

Replacing split files one by one let a kill between two renames leave the new train.txt beside the old
test.txt, so test tweets could leak into training. Instead prepare builds the new set in a temp
directory beside DIR (same filesystem, so renames are atomic) and swaps whole directories:

- DIR missing: one rename.
- DIR empty or a prepare output (its stats.json says so): the temp directory and DIR trade places in one
  ``renameat2(RENAME_EXCHANGE)`` call (Linux 3.15+; ext4, xfs, btrfs, tmpfs...), so at every instant
  DIR is the complete old set or the complete new one; the old set, now under the temp name, is removed.
  Where that call is missing (another OS, a filesystem without it) two renames do it, DIR -> ``.DIR.old-*``
  then temp -> DIR: between them DIR is briefly absent, a reader gets "no such file; run prepare" and a
  retry finds it, and a run killed right there is repaired by the next prepare, which renames the old set
  back before anything else. Files in DIR that prepare did not write (someone's notes.md) are hard-linked
  into the new set before the swap: they are in DIR at every instant and not a byte is copied.
- ``--force`` into a non-empty directory prepare did not write: the four files are replaced one by one
  and DIR stays where it is, with everything else in it (it is the user's folder, not ours to move); from
  then on it is a prepare output and later runs swap whole directories.

Not a symlink flip (DIR -> .DIR.v2): DIR would turn into a symlink on the first run, which copies, rsync
and the users' own scripts treat differently from the folder they asked for. The price of a swap: a shell
whose working directory is DIR stays in the old, deleted one (``cd .`` finds the new); this process's own
working directory is moved along.

Leftovers of a killed run (``.DIR.prepare-<pid>-*``, ``.DIR.old-<pid>-*``) whose process is gone are removed
by the next prepare into DIR (:func:`recover`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import secrets
import shutil
import stat
from pathlib import Path

from .errors import DataError
from .split import SPLIT_NAMES, SplitDir
from .stats import STATS_FILE, is_prepare_output

WRITTEN = (*(SplitDir.file_name(name) for name in SPLIT_NAMES), STATS_FILE)  # what prepare writes into DIR
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def check_out(out: Path, force: bool) -> None:
    """Refuse a DIR that prepare may not replace: a file, or a non-empty folder it did not write."""
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: is a file; give a directory")
    if out.is_dir() and any(out.iterdir()) and not force and not is_prepare_output(out):
        raise DataError(
            f"--out {out}: is not empty and was not written by prepare; choose another directory "
            "or pass --force (replaces its train/valid/test.txt and stats.json only)"
        )


def work_dir(out: Path) -> Path:
    """A new empty directory beside ``out`` to build the splits in. Not tempfile.mkdtemp: its 0o700 mode
    would stick to DIR after the swap."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _beside(out, "prepare")
    tmp.mkdir()
    return tmp


def _beside(out: Path, kind: str) -> Path:
    return out.parent / f".{out.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def recover(out: Path) -> None:
    """Tidy up after a prepare into ``out`` that was killed: put the old set back if the kill came between
    the two renames (DIR absent, ``.DIR.old-*`` whole), and remove temp and old directories of processes
    that are gone. A live process's are left alone: it may be preparing into DIR right now."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(prepare|old)-(\d+)-[0-9a-f]+")
    try:
        found = [
            (match[1], int(match[2]), path) for path in out.parent.iterdir() if (match := pattern.fullmatch(path.name))
        ]
    except OSError:  # no parent yet: nothing was ever prepared here
        return
    for kind, pid, path in sorted(found, key=lambda leftover: leftover[0] != "old"):  # an old set first
        if _alive(pid):
            continue
        if kind == "old" and not out.exists() and not out.is_symlink():
            os.rename(path, out)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be preparing
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or never a pid
        return False
    except PermissionError:  # someone else's, alive
        return True
    return True


def install(tmp: Path, out: Path, force: bool) -> None:
    """Put the finished set in ``tmp`` at ``out`` (see the module's docstring for how and why).
    ``tmp`` may be left holding the old set: the caller removes it."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if force and not is_prepare_output(out) and any(out.iterdir()):
        for name in WRITTEN:  # stats.json last: the folder is a prepare output once the splits are in
            os.replace(tmp / name, out / name)
        return
    if not _carry_over(out, tmp):  # a mount point or a filesystem without hard links inside DIR
        for name in WRITTEN:
            os.replace(tmp / name, out / name)
        return
    os.chmod(tmp, stat.S_IMODE(out.stat().st_mode))
    in_out = _is_cwd(out)
    if not _exchange(tmp, out):
        old = _beside(out, "old")
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            os.rename(old, out)
            raise
        tmp = old
    shutil.rmtree(tmp, ignore_errors=True)
    if in_out:
        os.chdir(out)


def _carry_over(out: Path, tmp: Path) -> bool:
    """Hard-link everything in ``out`` that prepare did not write into ``tmp``; False where that fails."""
    try:
        for entry in os.scandir(out):
            if entry.name not in WRITTEN:
                _link_tree(entry, tmp / entry.name)
    except (OSError, NotImplementedError):  # NotImplementedError: no linkat to link a symlink as itself
        return False
    return True


def _link_tree(entry: os.DirEntry, target: Path) -> None:
    if entry.is_dir(follow_symlinks=False):
        os.mkdir(target)
        shutil.copystat(entry.path, target, follow_symlinks=False)
        for child in os.scandir(entry.path):
            _link_tree(child, target / child.name)
    else:  # a file, a symlink (linked as itself), a fifo: one more name for the same inode
        os.link(entry.path, target, follow_symlinks=False)


def _is_cwd(out: Path) -> bool:
    try:
        return os.path.samefile(os.getcwd(), out)
    except OSError:
        return False


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux renameat2 RENAME_EXCHANGE); False where it is not supported."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the kernel or this filesystem cannot swap: two renames will do
    raise OSError(code, os.strerror(code), str(b))


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError):  # no C library to load by name (Windows)
        return None
