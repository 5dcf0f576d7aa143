"""SplitDir, the one owner of a data directory's layout: its paths, its errors, and what it finds on disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tweetsmith.data.split import SPLIT_NAMES, GivenSplitter, SplitDir


def test_paths_are_the_three_split_files_in_root(tmp_path):
    splits = SplitDir(tmp_path)
    assert (splits.train, splits.valid, splits.test) == (
        tmp_path / "train.txt",
        tmp_path / "valid.txt",
        tmp_path / "test.txt",
    )
    assert [splits.path(name) for name in SPLIT_NAMES] == [splits.train, splits.valid, splits.test]
    assert SplitDir.file_name("valid") == "valid.txt"


def test_root_given_as_a_str_is_kept_as_a_path_and_the_record_is_frozen():
    splits = SplitDir("some/data")
    assert splits.root == Path("some/data") and splits.test == Path("some/data/test.txt")
    assert splits == SplitDir(Path("some/data"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        splits.root = Path("elsewhere")  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["dev", "Train", "train.txt", ""])
def test_an_unknown_split_names_the_choices(tmp_path, bad):
    with pytest.raises(ValueError, match=r"unknown split .*; choose one of train, valid, test"):
        SplitDir(tmp_path).path(bad)
    with pytest.raises(ValueError, match="choose one of"):
        SplitDir.file_name(bad)


def test_complete_and_missing_follow_the_files_on_disk(tmp_path):
    splits = SplitDir(tmp_path)
    assert not splits.complete()
    assert splits.missing() == ["train", "valid", "test"]
    (tmp_path / "train.txt").write_text("\\a- one\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("\\a- two\n", encoding="utf-8")
    assert not splits.complete()
    assert splits.missing() == ["valid"]
    assert splits.missing(("train", "test")) == []
    (tmp_path / "valid.txt").mkdir()  # a folder where the file should be is no split
    assert not splits.complete() and splits.missing() == ["valid"]
    (tmp_path / "valid.txt").rmdir()
    (tmp_path / "valid.txt").write_text("", encoding="utf-8")  # empty, but there
    assert splits.complete() and splits.missing() == []


def test_a_missing_folder_is_incomplete(tmp_path):
    assert not SplitDir(tmp_path / "nowhere").complete()


def test_the_splitter_writes_where_split_dir_reads(tmp_path):
    splitter = GivenSplitter()
    for index, name in enumerate(SPLIT_NAMES):
        splitter.current = index
        splitter.add("a", f"\\a- a {name} tweet")
    splitter.write(tmp_path)
    splits = SplitDir(tmp_path)
    assert splits.complete()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.txt", "train.txt", "valid.txt"]
    assert splits.valid.read_text(encoding="utf-8") == "\\a- a valid tweet\n"
