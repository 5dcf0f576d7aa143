"""JSON Lines tweetsmith writes: appended a line at a time, read back forgiving a torn last line."""

from __future__ import annotations

import json
import logging
import os

import pytest

from tweetsmith.engine.jsonl import BrokenJsonLines, append_jsonl, read_jsonl, read_jsonl_records


def test_a_torn_last_line_is_left_out_with_a_one_line_notice(tmp_path, caplog, monkeypatch):
    # the CLI, run in-process by other tests, turns the notices logger's propagation off (its own handler
    # prints them): caplog listens at the root, so this test turns it back on for itself
    monkeypatch.setattr(logging.getLogger("tweetsmith.notices"), "propagate", True)
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1, "loss": 2.5}\n{"step": 2, "loss": 2.25}\n{"step": 3, "lo')
    result = read_jsonl(path)
    assert result.records == [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.25}]
    assert result.torn is not None and str(path) in result.torn and "\n" not in result.torn
    with caplog.at_level(logging.WARNING, logger="tweetsmith.notices"):
        assert read_jsonl_records(path) == result.records
    assert [r.getMessage() for r in caplog.records] == [result.torn]


def test_a_whole_file_has_no_notice_and_a_missing_one_is_empty(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n{"b": [1, 2]}\n', encoding="utf-8")
    assert read_jsonl(path).records == [{"a": 1}, {"b": [1, 2]}] and read_jsonl(path).torn is None
    assert read_jsonl(tmp_path / "missing.jsonl").records == []


def test_a_broken_line_before_the_last_is_an_error_naming_it(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\nnot json\n{"b": 2}\n', encoding="utf-8")
    with pytest.raises(BrokenJsonLines, match=r"a\.jsonl:2: not a JSON line"):
        read_jsonl(path)
    path.write_text('{"a": 1}\nnot json\n', encoding="utf-8")  # whole (it has its newline): not a torn write
    with pytest.raises(BrokenJsonLines, match=r"a\.jsonl:2: not a JSON line"):
        read_jsonl(path)


def test_append_writes_only_the_new_lines_and_cuts_a_torn_tail_first(tmp_path):
    path = tmp_path / "sub" / "samples.jsonl"
    append_jsonl(path, [{"n": 1}, {"n": 2}])
    inode = path.stat().st_ino
    with open(path, "ab") as f:  # an append killed mid-line
        f.write(b'{"n": 3, "te')
    append_jsonl(path, [{"n": 4}])
    assert path.stat().st_ino == inode  # appended in place, never rewritten through a new file
    assert path.read_bytes() == b'{"n": 1}\n{"n": 2}\n{"n": 4}\n'
    assert read_jsonl(path).records == [{"n": 1}, {"n": 2}, {"n": 4}] and read_jsonl(path).torn is None


def test_append_keeps_every_earlier_byte(tmp_path):
    """The first bytes of a long file are the same bytes after an append (nothing is re-serialised)."""
    path = tmp_path / "big.jsonl"
    lines = [{"i": i, "text": "é" * (i % 7)} for i in range(2000)]
    append_jsonl(path, lines)
    before = path.read_bytes()
    append_jsonl(path, [{"i": -1}])
    after = path.read_bytes()
    assert after[: len(before)] == before and after[len(before) :] == (json.dumps({"i": -1}) + "\n").encode()
    assert os.path.getsize(path) == len(before) + len(b'{"i": -1}\n')
