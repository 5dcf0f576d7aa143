"""`tweetsmith prepare` in-process: exit codes, one-line errors, --json, the human table."""

from __future__ import annotations

import json

import pytest

from tweetsmith.scripts.cli import main


def write(path, content: str | bytes):
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def bad_inputs(tmp_path):
    """(name, argv inputs and flags, words the error line must contain) for every bad input."""
    archive = write(tmp_path / "tweets.js", 'window.YTD.tweets.part0 = [{"tweet": {"full_text": ')
    return [
        ("missing", [str(tmp_path / "nope.txt")], ["nope.txt", "no such file"]),
        ("directory", [str(tmp_path)], [str(tmp_path), "directory"]),
        ("binary", [str(write(tmp_path / "img.png", b"\x89PNG\r\n\x1a\n\x00\x00\x0dIHDR"))], ["img.png", "binary"]),
        ("empty", [str(write(tmp_path / "empty.txt", ""))], ["empty.txt", "empty"]),
        ("blank", [str(write(tmp_path / "blank.txt", "\n" * 20000))], ["blank.txt", "no records"]),
        ("utf8", [str(write(tmp_path / "bad.txt", b"\\a- caf\xe9\n"))], ["bad.txt", "byte 7", "--encoding"]),
        ("no text column", [str(write(tmp_path / "t.csv", "id,likes\n1,2\n"))], ["t.csv", "--text-col"]),
        ("archive", [str(archive)], ["tweets.js", "broken Twitter archive"]),
        ("json line", [str(write(tmp_path / "x.jsonl", '{"text": "a"}\n{oops}\n'))], ["x.jsonl", "line 2"]),
        ("encoding", [str(write(tmp_path / "ok.txt", "a\n")), "--encoding", "klingon"], ["klingon"]),
        ("split", [str(tmp_path / "ok.txt"), "--split", "0.8,0.3,0.1"], ["--split", "sum to 1.2"]),
        ("nothing", [], ["--builtin sotu"]),
        ("all dropped", [str(write(tmp_path / "rt.txt", "RT @a: x\n@b hi\n"))], ["1 retweet", "1 reply"]),
        # Found by the property tests (test_prepare_properties.py); each was a traceback before.
        (
            "utf-16 without BOM",
            [str(write(tmp_path / "le.txt", "a\nb\n".encode("utf-16-le"))), "--encoding", "utf-16"],
            ["le.txt", "not valid utf-16"],
        ),
        ("bytes codec", [str(tmp_path / "ok.txt"), "--encoding", "rot13"], ["rot13", "not an encoding for text files"]),
        (
            "host-name codec",
            [str(tmp_path / "ok.txt"), "--encoding", "idna"],
            ["idna", "not an encoding for text files"],
        ),
        ("huge ratio", [str(tmp_path / "ok.txt"), "--split", "1e999,0,0"], ["--split", "more than 1e308"]),
        ("carriage return in a CSV header", [str(write(tmp_path / "cr.csv", "te\rxt,id\nhi,1\n"))], ["cr.csv"]),
        (
            "line break in a column name",
            [str(write(tmp_path / "sep.csv", "id,li\x1ckes\n1,2\n"))],
            ["sep.csv", "li\\x1ckes", "--text-col"],
        ),
    ]


def test_every_bad_input_is_one_line_exit_2_and_no_dir(tmp_path, capsys):
    cases = bad_inputs(tmp_path)
    for name, argv, words in cases:
        out = tmp_path / "out" / name.replace(" ", "_")
        code = main(["prepare", *argv, "--out", str(out)])
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        assert code == 2, name
        assert len(lines) == 1 and lines[0].startswith("tweetsmith: error: "), (name, captured.err)
        assert "Traceback" not in captured.err and captured.out == ""
        for word in words:
            assert word in lines[0], (name, word, lines[0])
        assert not out.exists(), name
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_encoding_flag_fixes_the_utf8_error(tmp_path, capsys):
    path = write(tmp_path / "latin.txt", b"\\a- caf\xe9\n\\b- na\xefve\n")
    assert (
        main(
            ["prepare", str(path), "--out", str(tmp_path / "o"), "--encoding", "latin-1", "--split", "1,0,0", "--json"]
        )
        == 0
    )
    assert (tmp_path / "o" / "train.txt").read_text(encoding="utf-8").splitlines() in (
        ["\\a- café", "\\b- naïve"],
        ["\\b- naïve", "\\a- café"],
    )


def test_overlong_lines_are_counted_not_fatal(tmp_path, capsys):
    path = write(tmp_path / "long.txt", "\\a- ok\n\\a- " + "x" * 2_000_000 + "\n\\b- fine\n")
    assert main(["prepare", str(path), "--out", str(tmp_path / "o"), "--max-chars", "1000", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped"]["too_long"] == 1 and summary["records"] == 2


@pytest.fixture()
def tweet_files(tmp_path, tweets_factory):
    """Two line-format files of 300 tweets each, junk mixed in (75 lines each)."""
    return [
        write(tmp_path / f"in-{seed}.txt", "".join(line + "\n" for line in tweets_factory(300, seed=seed, noise=True)))
        for seed in (1, 2)
    ]


def test_json_summary_matches_files(tmp_path, capsys, tweet_files):
    out = tmp_path / "vc"
    code = main(
        [
            "prepare",
            str(tweet_files[0]),
            str(tweet_files[1]),
            "--out",
            str(out),
            "--split",
            "0.7,0.15,0.15",
            "--seed",
            "3",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    assert captured.out.count("\n") == 1
    summary = json.loads(captured.out)
    assert summary == json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert summary["seed"] == 3 and summary["split"] == {"train": 0.7, "valid": 0.15, "test": 0.15}
    assert [i["records"] for i in summary["inputs"]] == [375, 375]
    authors: dict[str, dict[str, int]] = {}
    for name in ("train", "valid", "test"):
        lines = (out / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        assert summary["splits"][name]["records"] == len(lines)
        assert summary["splits"][name]["megabytes"] == pytest.approx((out / f"{name}.txt").stat().st_size / 1e6)
        for line in lines:
            author = line[1 : line.index("- ")]
            authors.setdefault(author, {}).setdefault(name, 0)
            authors[author][name] += 1
    assert {a: {k: v for k, v in c.items() if k != "total" and v} for a, c in summary["authors"].items()} == authors
    assert summary["records"] + summary["skipped_total"] == summary["records_read"] == 750
    assert summary["skipped_total"] > 0 and len(authors) == 8


def test_human_table_and_refusal_to_overwrite(tmp_path, capsys, tweet_files):
    out = tmp_path / "vc"
    assert main(["prepare", str(tweet_files[0]), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "train" in text and "valid" in text and "test" in text and "skipped:" in text
    foreign = tmp_path / "mine"
    foreign.mkdir()
    write(foreign / "thesis.tex", "keep me")
    assert main(["prepare", str(tweet_files[0]), "--out", str(foreign)]) == 2
    assert "--force" in capsys.readouterr().err
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]
    assert main(["prepare", str(tweet_files[0]), "--out", str(foreign), "--force", "--json"]) == 0
    assert sorted(p.name for p in foreign.iterdir()) == [
        "stats.json",
        "test.txt",
        "thesis.tex",
        "train.txt",
        "valid.txt",
    ]


def test_cleaning_flags_reach_prepare(tmp_path, capsys):
    path = write(tmp_path / "t.txt", "\\a- RT @x: hi\n\\a- @y yo\n\\a- Q&amp;A http://t.co/z\n\\a- dup\n\\a- dup\n")
    argv = ["prepare", str(path), "--split", "1,0,0", "--json"]
    assert main([*argv, "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "train.txt").read_text(encoding="utf-8").splitlines() in (
        ["\\a- Q&A", "\\a- dup"],
        ["\\a- dup", "\\a- Q&A"],
    )
    assert (
        main(
            [
                *argv,
                "--out",
                str(tmp_path / "k"),
                "--keep-retweets",
                "--keep-replies",
                "--keep-urls",
                "--no-unescape",
                "--keep-duplicates",
            ]
        )
        == 0
    )
    kept = (tmp_path / "k" / "train.txt").read_text(encoding="utf-8").splitlines()
    assert sorted(kept) == sorted(
        ["\\a- RT @x: hi", "\\a- @y yo", "\\a- Q&amp;A http://t.co/z", "\\a- dup", "\\a- dup"]
    )
    capsys.readouterr()


def test_builtin_sotu_cli(tmp_path, capsys):
    assert main(["prepare", "--builtin", "sotu", "--out", str(tmp_path / "s"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["inputs"][0]["source"] == "builtin:sotu"
    assert {"washington", "lincoln"} <= set(summary["authors"])


def test_odd_text_prepares_and_reads_back(tmp_path, capsys):
    """Found by the property tests: text that looks like a prefixed line and lone surrogates in JSON."""
    from tweetsmith.data.records import read_split

    text = write(tmp_path / "speech.txt", "\\x- a plain line that looks like a tweet\nanother line\n")
    # --author= (empty) keeps the records authorless, the case where the text's own prefix needs escaping.
    for flag, author in (("--author=", ""), ("--author=speech", "speech")):
        out = tmp_path / f"t{author}"
        assert main(["prepare", str(text), "--format", "text", "--split", "1,0,0", "--out", str(out), flag]) == 0
        records = read_split(out / "train.txt")
        assert sorted((r.author, r.text) for r in records) == [
            (author, "\\x- a plain line that looks like a tweet"),
            (author, "another line"),
        ]
    lone = write(tmp_path / "lone.jsonl", '{"author": "a\\udc80b", "text": "half \\ud83d a pair"}\n')
    assert main(["prepare", str(lone), "--split", "1,0,0", "--out", str(tmp_path / "j")]) == 0
    assert (tmp_path / "j" / "train.txt").read_text(encoding="utf-8") == "\\a\ufffdb- half \ufffd a pair\n"
    capsys.readouterr()


def split_records(out):
    """(author, text) of every line of the three splits, from the files."""
    from tweetsmith.data.records import parse_line

    return sorted(
        (r.author, r.text)
        for name in ("train", "valid", "test")
        for r in map(parse_line, (out / f"{name}.txt").read_text(encoding="utf-8").splitlines())
    )


def test_inputs_without_authors_are_by_their_file_name(tmp_path, capsys):
    """Plain text, a CSV without an author column, JSON Lines without an author field and a tweets.js
    without account.js: each input's records are by its own file's name, said in one line each; an input
    that names its authors keeps them and says nothing."""
    archive = tmp_path / "archive" / "data"
    archive.mkdir(parents=True)
    inputs = [
        write(tmp_path / "my tweets.txt", "first plain line\nsecond plain line\n"),
        write(tmp_path / "export-2020.csv", "id,text\n1,from the csv\n"),
        write(tmp_path / "dump.jsonl", '{"content": "from json lines", "likes": 3}\n'),
        write(archive / "tweets.js", 'window.YTD.tweets.part0 = [{"tweet": {"full_text": "from the archive"}}]'),
        write(tmp_path / "named.csv", "username,text\nann,ann's own\n"),
    ]
    out = tmp_path / "out"
    assert main(["prepare", *map(str, inputs), "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    expected = [
        ("my tweets.txt", "my_tweets"),
        ("export-2020.csv", "export_2020"),
        ("dump.jsonl", "dump"),
        ("tweets.js", "tweets"),
    ]
    assert captured.err.splitlines() == [
        f"no author in {name}: records are by '{author}' (give --author NAME to choose)" for name, author in expected
    ]
    assert split_records(out) == sorted(
        [
            ("my_tweets", "first plain line"),
            ("my_tweets", "second plain line"),
            ("export_2020", "from the csv"),
            ("dump", "from json lines"),
            ("tweets", "from the archive"),
            ("ann", "ann's own"),
        ]
    )
    stats = json.loads(captured.out)
    assert [i["default_author"] for i in stats["inputs"]] == ["my_tweets", "export_2020", "dump", "tweets", None]


def test_author_flag_and_account_js_name_the_author_without_a_notice(tmp_path, capsys):
    archive = tmp_path / "data"
    archive.mkdir()
    tweets = write(archive / "tweets.js", 'window.YTD.tweets.part0 = [{"tweet": {"full_text": "mine"}}]')
    write(archive / "account.js", 'window.YTD.account.part0 = [{"account": {"username": "paulg"}}]')
    text = write(tmp_path / "speech.txt", "a line\n")
    assert main(["prepare", str(tweets), "--out", str(tmp_path / "a"), "--split", "1,0,0"]) == 0
    assert main(["prepare", str(text), "--out", str(tmp_path / "b"), "--split", "1,0,0", "--author", "Van Buren"]) == 0
    assert capsys.readouterr().err == ""
    assert split_records(tmp_path / "a") == [("paulg", "mine")]
    assert split_records(tmp_path / "b") == [("Van_Buren", "a line")]


def test_split_files_without_authors_share_one_author(tmp_path, capsys):
    """vc_train/vc_valid/vc_test.txt are one dataset: "vc", not three authors "vc_train", "vc_valid", ...;
    a bare train.txt is by its folder's name."""
    for folder, prefix in (("a", "vc_"), ("speeches", "")):
        (tmp_path / folder).mkdir()
        files = [
            write(tmp_path / folder / f"{prefix}{name}.txt", f"{name} line one\n{name} line two\n")
            for name in ("train", "valid", "test")
        ]
        assert main(["prepare", *map(str, files), "--split", "given", "--out", str(tmp_path / f"{folder}-out")]) == 0
        author = prefix.strip("_") or folder
        assert capsys.readouterr().err.splitlines() == [
            f"no author in {f.name}: records are by '{author}' (give --author NAME to choose)" for f in files
        ]
        out = tmp_path / f"{folder}-out"
        for name in ("train", "valid", "test"):
            assert (out / f"{name}.txt").read_text(encoding="utf-8").splitlines() == [
                f"\\{author}- {name} line one",
                f"\\{author}- {name} line two",
            ]
