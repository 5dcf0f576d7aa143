"""The authors a split names, most frequent first (what the chat's input completes from)."""

from __future__ import annotations

from tweetsmith.data.records import authors_by_frequency


def test_authors_come_most_frequent_first(tmp_path):
    path = tmp_path / "train.txt"
    lines = ["\\bob- a", "\\ann- b", "\\bob- c", "no author here", "\\cy- d", "\\bob- e", "\\ann- f"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert authors_by_frequency(path) == ["bob", "ann", "cy"]
    assert authors_by_frequency(path, limit=2) == ["bob", "ann"]


def test_a_missing_split_names_no_authors(tmp_path):
    assert authors_by_frequency(tmp_path / "train.txt") == []
