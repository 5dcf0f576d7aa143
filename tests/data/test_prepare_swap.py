"""`prepare` into an existing DIR swaps whole directories: a prepare killed at any step of the swap leaves
DIR with the old splits or the new ones, never a mix, and the next prepare tidies up after it.

The kills are real: a child process runs prepare with the filesystem calls of data.install counted, and
SIGKILLs itself before step k (k = 0, 1, ... and once after the last), for every k; the test then reads
the three split files and stats.json and finds them all old or all new.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tweetsmith.data import DataError, PrepareConfig, prepare
from tweetsmith.data.install import recover

SPLITS = ("train.txt", "valid.txt", "test.txt")

CHILD = r"""
import importlib, os, signal, sys
from tweetsmith.data import install
from tweetsmith.data.prepare import PrepareConfig, prepare

prepare_module = importlib.import_module("tweetsmith.data.prepare")  # the package's `prepare` is the function

kill_at, mode, out, source = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
steps, active = 0, False

def step():
    global steps
    if active:
        if steps == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        steps += 1

def counted(function):
    def wrapper(*args, **kwargs):
        step()
        return function(*args, **kwargs)
    return wrapper

for name in ("rename", "replace", "link", "mkdir", "unlink", "rmdir", "chmod"):
    setattr(os, name, counted(getattr(os, name)))
if mode == "renames":  # a system without renameat2(RENAME_EXCHANGE): the two-rename fallback
    install._exchange = lambda a, b: False
else:
    install._exchange = counted(install._exchange)
real_install = install.install

def watched(*args):
    global active
    active = True
    real_install(*args)
    step()  # once more after the last step: the swap done, the old set removed
    active = False

prepare_module.install = watched
prepare(PrepareConfig(inputs=(source,), out=out, seed=5))
print(steps)
"""


def write_tweets(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def splits_of(directory: Path) -> tuple[dict[str, bytes], str]:
    """The split files' bytes, and the input stats.json says they came from."""
    stats = json.loads((directory / "stats.json").read_text(encoding="utf-8"))
    return {name: (directory / name).read_bytes() for name in SPLITS}, stats["inputs"][0]["source"]


@pytest.fixture(scope="module")
def sets(tmp_path_factory, tweets_factory):
    """An old and a new input, and the splits each gives (seed 5, as the child uses)."""
    root = tmp_path_factory.mktemp("swap")
    inputs = {
        "old": write_tweets(root / "old.txt", tweets_factory(80, seed=1)),
        "new": write_tweets(root / "new.txt", tweets_factory(80, seed=2)),
    }
    expected = {}
    for name, path in inputs.items():
        prepare(PrepareConfig(inputs=(str(path),), out=str(root / f"{name}-ref"), seed=5))
        expected[name] = splits_of(root / f"{name}-ref")
    assert expected["old"][0]["test.txt"] != expected["new"][0]["test.txt"]
    return root, inputs, expected


def state(directory: Path, expected) -> str:
    """ "old" or "new" when the three splits and stats.json are all of one set; fails on a mix."""
    files, source = splits_of(directory)
    matches = [name for name, (splits, _) in expected.items() if files == splits]
    assert len(matches) == 1, f"{directory}: the split files are a mix of old and new"
    assert Path(source).stem == matches[0], f"{directory}: stats.json is from another set than the splits"
    assert (directory / "notes.md").read_text(encoding="utf-8") == "mine", "the user's file went missing"
    return matches[0]


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def fresh_old(root: Path, out: Path) -> None:
    """DIR as an earlier prepare left it, with a file of the user's beside the splits."""
    shutil.rmtree(out, ignore_errors=True)
    for name in leftovers(out):
        shutil.rmtree(out.parent / name)
    shutil.copytree(root / "old-ref", out)
    (out / "notes.md").write_text("mine", encoding="utf-8")


def run_child(kill_at: int, mode: str, out: Path, source: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(kill_at), mode, str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("mode", ["exchange", "renames"])
def test_a_kill_at_any_step_of_the_swap_leaves_old_or_new_whole(tmp_path, sets, mode):
    root, inputs, expected = sets
    out = tmp_path / "out"
    fresh_old(root, out)
    counted = run_child(-1, mode, out, inputs["new"])
    assert counted.returncode == 0, counted.stderr
    steps = int(counted.stdout.split()[-1])
    assert state(out, expected) == "new" and leftovers(out) == []
    # Link notes.md, chmod, swap (one call, or two renames), remove the old set's 5 files and folder; then
    # the kill after the last step.
    assert steps == (9 if mode == "exchange" else 10) + 1
    seen = []
    for kill_at in range(steps):
        fresh_old(root, out)
        child = run_child(kill_at, mode, out, inputs["new"])
        assert child.returncode == -signal.SIGKILL, (kill_at, child.stderr)
        if out.exists():
            seen.append(state(out, expected))
        else:  # only between the fallback's two renames: the old set waits beside DIR, whole
            assert mode == "renames", "DIR went missing although the swap is one atomic call"
            (old,) = [name for name in leftovers(out) if ".old-" in name]
            assert state(out.parent / old, expected) == "old"
            seen.append("absent")
            # The next prepare puts the old set back first, so even one that fails leaves it in place.
            with pytest.raises(DataError, match="no such file"):
                prepare(PrepareConfig(inputs=(str(tmp_path / "missing.txt"),), out=str(out)))
            assert state(out, expected) == "old"
        recover(out)
        assert leftovers(out) == [], kill_at  # the killed child's temp and old sets are gone
        prepare(PrepareConfig(inputs=(str(inputs["new"]),), out=str(out), seed=5))
        assert state(out, expected) == "new" and leftovers(out) == []
    # Old until the swap, new from it on; absent for one step in the fallback only.
    swap = seen.index("new")
    assert set(seen[:swap]) <= {"old", "absent"} and set(seen[swap:]) == {"new"}
    assert seen.count("absent") == (1 if mode == "renames" else 0) and seen[0] == "old"


def test_user_files_are_carried_as_hard_links_and_cwd_follows(tmp_path, sets, monkeypatch):
    root, inputs, expected = sets
    out = tmp_path / "out"
    fresh_old(root, out)
    (out / "sub").mkdir()
    (out / "sub" / "a.txt").write_text("deep", encoding="utf-8")
    (out / "link").symlink_to("notes.md")
    inode = (out / "notes.md").stat().st_ino
    monkeypatch.chdir(out)
    prepare(PrepareConfig(inputs=(str(inputs["new"]),), out=".", seed=5))
    assert state(Path.cwd(), expected) == "new"  # this process's working directory moved to the new set
    assert os.path.samefile(Path.cwd(), out)
    assert (out / "notes.md").stat().st_ino == inode  # the same file, not a copy
    assert (out / "sub" / "a.txt").read_text(encoding="utf-8") == "deep"
    assert os.readlink(out / "link") == "notes.md"
    assert leftovers(out) == []


def test_leftovers_of_live_processes_are_left_alone(tmp_path, sets):
    root, inputs, expected = sets
    out = tmp_path / "out"
    fresh_old(root, out)
    live = out.parent / f".out.prepare-{os.getppid()}-0000abcd"  # pytest's parent: alive
    dead = out.parent / ".out.prepare-4194305-0000abcd"  # above Linux's largest pid: never alive
    for folder in (live, dead):
        folder.mkdir()
    prepare(PrepareConfig(inputs=(str(inputs["new"]),), out=str(out), seed=5))
    assert state(out, expected) == "new" and leftovers(out) == [live.name]


def test_force_writes_into_a_foreign_folder_in_place(tmp_path, sets):
    """--force: the four files go into the user's folder, which stays put with all else in it."""
    root, inputs, expected = sets
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.md").write_text("mine", encoding="utf-8")
    (out / "train.txt").write_text("theirs\n", encoding="utf-8")
    inode = out.stat().st_ino
    with pytest.raises(DataError, match=f"--out {out}: is not empty and was not written by prepare.*--force"):
        prepare(PrepareConfig(inputs=(str(inputs["new"]),), out=str(out), seed=5))
    assert (out / "train.txt").read_text(encoding="utf-8") == "theirs\n"
    prepare(PrepareConfig(inputs=(str(inputs["new"]),), out=str(out), seed=5, force=True))
    assert state(out, expected) == "new" and out.stat().st_ino == inode
    assert sorted(p.name for p in out.iterdir()) == ["notes.md", "stats.json", *sorted(SPLITS)]
