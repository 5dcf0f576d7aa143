"""`prepare` end to end: tweet files made here (with every kind of junk cleaning drops), stats against
the files, atomic output."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from tweetsmith.data import DataError, PrepareConfig, format_line, parse_line, prepare, read_split_lines
from tweetsmith.data.prepare import PrepareCancelled

SPLITS = ("train", "valid", "test")
KEEP_ALL = dict(
    keep_retweets=True, keep_replies=True, keep_urls=True, unescape=False, normalize_space=False, keep_duplicates=True
)


TWEETS_PER_FILE = {"train": 600, "valid": 150, "test": 150}


@pytest.fixture(scope="module")
def tweet_dir(tmp_path_factory, tweets_factory):
    """Three line-format files like the assignment's, with retweets, replies, bare links, empty texts,
    blank lines and repeats mixed in (a quarter as many as there are tweets)."""
    out = tmp_path_factory.mktemp("tweets")
    for seed, (name, count) in enumerate(TWEETS_PER_FILE.items()):
        lines = tweets_factory(count, seed=seed, noise=True)
        (out / f"{name}.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return out


def vc_files(tweet_dir):
    return tuple(str(tweet_dir / f"{name}.txt") for name in SPLITS)


def read_out(out):
    return {name: (out / f"{name}.txt").read_text(encoding="utf-8").split("\n")[:-1] for name in SPLITS}


def strip_urls(text: str) -> str:
    """The URL rule written as a plain scan: from http://, https:// or www. up to whitespace or a closer."""
    stop = set(" \t<>\"'()[]{}“”‘’")
    out, i = [], 0
    while i < len(text):
        if text.startswith(("http://", "https://", "www."), i):
            while i < len(text) and text[i] not in stop and not text[i].isspace():
                i += 1
            continue
        out.append(text[i])
        i += 1
    return re.sub(r"\(\s*\)|\[\s*\]", "", "".join(out))


def reference_clean(lines):
    """Independent cleaning of line-format lines, as the issue specifies it; (kept lines, skip counts)."""
    kept, seen, skipped = [], set(), Counter()
    for line in lines:
        author, text = "", line
        if line.startswith("\\") and "- " in line and " " not in line[: line.index("- ")]:
            author, text = line[1 : line.index("- ")], line[line.index("- ") + 2 :]
        text = html.unescape(text)
        if text.lstrip().startswith("RT @"):
            skipped["retweet"] += 1
        elif text.lstrip().startswith("@"):
            skipped["reply"] += 1
        else:
            text = " ".join(strip_urls(text).split())
            if not text:
                skipped["empty"] += 1
            elif (author, text) in seen:
                skipped["duplicate"] += 1
            else:
                seen.add((author, text))
                kept.append(f"\\{author}- {text}" if author else text)
    return kept, skipped


def input_lines(tweet_dir):
    return [line for path in vc_files(tweet_dir) for line in open(path, encoding="utf-8").read().split("\n")[:-1]]


def test_generated_data_has_every_kind_of_junk(tweet_dir):
    """The inputs below are only a test of cleaning if they hold what cleaning drops."""
    lines = input_lines(tweet_dir)
    _kept, skipped = reference_clean(lines)
    assert len(lines) == sum(count + count // 4 for count in TWEETS_PER_FILE.values())
    assert all(skipped[reason] >= 5 for reason in ("retweet", "reply", "empty", "duplicate")), skipped
    assert sum("https://t.co/" in line for line in lines) >= 50 and sum("&amp;" in line for line in lines) >= 10
    assert len({parse_line(line).author for line in lines} - {""}) == 8


def test_every_line_lands_in_one_split(tmp_path, tweet_dir):
    out = tmp_path / "vc"
    summary = prepare(PrepareConfig(inputs=vc_files(tweet_dir), out=str(out), **KEEP_ALL))
    lines = input_lines(tweet_dir)
    expected = Counter(format_line(parse_line(line)) for line in lines if parse_line(line).text.strip())
    files = read_out(out)
    assert Counter(files["train"] + files["valid"] + files["test"]) == expected
    assert summary.records == sum(expected.values())
    assert summary.records_read == len(lines) == 1124
    assert summary.skipped["empty"] == len(lines) - summary.records > 0


def test_default_cleaning_matches_reference(tmp_path, tweet_dir):
    out = tmp_path / "vc"
    summary = prepare(PrepareConfig(inputs=vc_files(tweet_dir), out=str(out), seed=7))
    kept, skipped = reference_clean(input_lines(tweet_dir))
    files = read_out(out)
    assert Counter(files["train"] + files["valid"] + files["test"]) == Counter(kept)
    assert {k: v for k, v in summary.skipped.items() if v} == dict(skipped)
    # Stratified: every author's share of each split is within one record of its ratio.
    per_author = Counter(parse_line(line).author for line in kept)
    for name, ratio in zip(SPLITS, (0.8, 0.1, 0.1)):
        got = Counter(parse_line(line).author for line in files[name])
        for author, n in per_author.items():
            assert abs(got[author] - n * ratio) < 1, (name, author)
    # stats.json agrees with the files.
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats == json.loads(json.dumps(summary.to_dict()))
    for name in SPLITS:
        assert stats["splits"][name]["records"] == len(files[name])
        assert stats["splits"][name]["bytes"] == (out / f"{name}.txt").stat().st_size
        assert stats["splits"][name]["words"] == sum(len(parse_line(x).text.split()) for x in files[name])
        assert read_split_lines(out / f"{name}.txt") == files[name]
    assert {a: c["total"] for a, c in stats["authors"].items()} == dict(per_author)
    assert stats["records_read"] == 1124 and stats["split"] == {"train": 0.8, "valid": 0.1, "test": 0.1}
    assert stats["split_given"] is False


def test_same_seed_same_files_other_seed_other_files(tmp_path, tweet_dir):
    config = dict(inputs=(vc_files(tweet_dir)[1],), split="0.6,0.2,0.2")
    prepare(PrepareConfig(out=str(tmp_path / "a"), seed=1, **config))
    prepare(PrepareConfig(out=str(tmp_path / "b"), seed=1, **config))
    prepare(PrepareConfig(out=str(tmp_path / "c"), seed=2, **config))
    a, b, c = (read_out(tmp_path / d) for d in "abc")
    assert a == b
    assert a["test"] != c["test"] and sorted(sum(a.values(), [])) == sorted(sum(c.values(), []))


def test_previous_output_is_replaced_and_foreign_dir_refused(tmp_path, tweet_dir):
    out = tmp_path / "out"
    prepare(PrepareConfig(inputs=(vc_files(tweet_dir)[2],), out=str(out), seed=1))
    before = read_out(out)
    (out / "notes.md").write_text("mine", encoding="utf-8")
    # A failing run leaves the previous output whole.
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\\a- fine\n" * 100 + b"\\a- broken \xff\n")
    with pytest.raises(DataError, match="byte 911"):  # 100 lines of 9 bytes, then 11 before the bad one
        prepare(PrepareConfig(inputs=(vc_files(tweet_dir)[1], str(bad)), out=str(out)))
    assert read_out(out) == before
    # A new run overwrites the splits and keeps other files.
    prepare(PrepareConfig(inputs=(vc_files(tweet_dir)[2],), out=str(out), seed=2))
    assert read_out(out) != before and (out / "notes.md").read_text(encoding="utf-8") == "mine"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "train.txt").write_text("precious\n", encoding="utf-8")
    with pytest.raises(DataError, match="--force"):
        prepare(PrepareConfig(inputs=(vc_files(tweet_dir)[2],), out=str(foreign)))
    assert (foreign / "train.txt").read_text(encoding="utf-8") == "precious\n"
    prepare(PrepareConfig(inputs=(vc_files(tweet_dir)[2],), out=str(foreign), force=True))
    assert (foreign / "train.txt").read_text(encoding="utf-8") != "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "foreign", "out"]  # no temp dirs left


def test_errors_leave_nothing_behind(tmp_path):
    good = tmp_path / "in" / "good.txt"
    good.parent.mkdir()
    good.write_text("\\a- one\n\\b- two\n", encoding="utf-8")
    retweets = tmp_path / "in" / "rt.txt"
    retweets.write_text("RT @x: y\n", encoding="utf-8")
    out = tmp_path / "deep" / "out"
    with pytest.raises(DataError, match="no records left.*1 retweet"):
        prepare(PrepareConfig(inputs=(str(retweets),), out=str(out)))
    assert not out.exists() and list(out.parent.iterdir()) == []
    with pytest.raises(DataError, match="give --out"):
        prepare(PrepareConfig(inputs=(str(good),)))
    with pytest.raises(DataError, match="nothing to read"):
        prepare(PrepareConfig(out=str(out)))
    with pytest.raises(DataError, match="is a file"):
        prepare(PrepareConfig(inputs=(str(good),), out=str(good)))
    with pytest.raises(DataError, match="max-chars"):
        PrepareConfig(max_chars=0)


def test_cancel_and_progress(tmp_path):
    import threading

    path = tmp_path / "many.txt"
    path.write_text("".join(f"\\u{i % 5}- tweet number {i}\n" for i in range(40_000)), encoding="utf-8")
    events = []
    summary = prepare(PrepareConfig(inputs=(str(path),), out=str(tmp_path / "ok")), on_progress=events.append)
    assert summary.records == 40_000
    assert [e.records for e in events if e.stage == "reading"] == [16384, 32768]
    assert events[-1].stage == "writing" and events[-1].done == events[-1].total == 40_000
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(PrepareCancelled):
        prepare(PrepareConfig(inputs=(str(path),), out=str(tmp_path / "no")), cancel=cancel)
    assert not (tmp_path / "no").exists()


def test_several_formats_together_with_author_override(tmp_path):
    csv_path = tmp_path / "a.csv"
    csv_path.write_text("username,text\nann,from csv\n", encoding="utf-8")
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text('{"author": "bob", "content": "from json"}\n', encoding="utf-8")
    text = tmp_path / "c.txt"
    text.write_text("para one\nstill one\n\npara two\n", encoding="utf-8")
    out = tmp_path / "out"
    summary = prepare(PrepareConfig(inputs=(str(csv_path), str(jsonl)), out=str(out), split="1,0,0"))
    assert sorted(read_out(out)["train"]) == ["\\ann- from csv", "\\bob- from json"]
    assert [(i.format, i.records) for i in summary.inputs] == [("csv", 1), ("jsonl", 1)]
    prepare(PrepareConfig(inputs=(str(text),), out=str(out), split="1,0,0", by_paragraph=True, author="Van Buren"))
    assert sorted(read_out(out)["train"]) == ["\\Van_Buren- para one still one", "\\Van_Buren- para two"]


def test_sotu_builtin(tmp_path):
    summary = prepare(PrepareConfig(builtin="sotu", out=str(tmp_path / "sotu")))
    authors = {a.author for a in summary.authors}
    assert {"washington", "lincoln", "vanburen"} <= authors
    files = read_out(tmp_path / "sotu")
    assert all(
        parse_line(line).text.strip() and parse_line(line).author in authors for name in SPLITS for line in files[name]
    )
    assert summary.records > 20_000 and summary.split("train").megabytes > 5


def test_data_room_imports_no_torch():
    code = (
        "import sys, tweetsmith.data, tweetsmith.data.prepare; "
        "print(sorted(m for m in ('torch', 'transformers', 'textual', 'pandas', 'sotu') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_split_given_keeps_each_files_records_in_its_split_in_order(tmp_path, tweet_dir):
    """The assignment's own split: what cleaning keeps of train.txt is train.txt, in its order; a
    repeat within a file is dropped, one across files is kept (the split is theirs)."""
    files_in = {name: tmp_path / f"vc_{name}.txt" for name in SPLITS}
    for name in SPLITS:
        lines = input_lines_of(tweet_dir / f"{name}.txt")
        if name == "test":
            lines += [lines[0], reference_clean(input_lines_of(tweet_dir / "train.txt"))[0][0]]
        files_in[name].write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    out = tmp_path / "given"
    summary = prepare(
        PrepareConfig(inputs=tuple(str(files_in[n]) for n in ("test", "train", "valid")), out=str(out), split="given")
    )
    files = read_out(out)
    references = {name: reference_clean(input_lines_of(files_in[name])) for name in SPLITS}
    for name in SPLITS:
        assert files[name] == references[name][0]
    assert files["test"][-1] == files["train"][0]  # across files: kept
    assert summary.skipped["duplicate"] == sum(skipped["duplicate"] for _, skipped in references.values()) > 0
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    total = sum(len(files[n]) for n in SPLITS)
    assert stats["split"] == pytest.approx({n: len(files[n]) / total for n in SPLITS})
    assert stats["split_given"] is True and " as given, seed" in summary.table()
    assert {n: stats["splits"][n]["words"] for n in SPLITS} == {
        n: sum(len(parse_line(x).text.split()) for x in files[n]) for n in SPLITS
    }


def input_lines_of(path):
    return open(path, encoding="utf-8").read().split("\n")[:-1]


@pytest.mark.parametrize(
    "names,builtin,message",
    [
        (("train.txt", "valid.txt", "notes.txt"), None, "notes.txt does not say its split in its name"),
        (("train.txt", "valid.txt"), None, "no test file among the inputs"),
        (("train.txt", "valid.txt", "test.txt"), "sotu", "the built-in corpus has none"),
    ],
)
def test_split_given_refuses_inputs_that_do_not_name_their_split(tmp_path, names, builtin, message):
    for name in names:
        (tmp_path / name).write_text("\\paulg- a tweet\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        prepare(
            PrepareConfig(
                inputs=tuple(str(tmp_path / n) for n in names),
                out=str(tmp_path / "out"),
                split="given",
                builtin=builtin,
            )
        )
    assert not (tmp_path / "out").exists()


def test_split_files_re_split_by_ratios_say_how_to_keep_their_split(tmp_path, tweet_dir):
    from tweetsmith.data.split import resplit_notice, split_named_by

    assert [
        split_named_by(n)
        for n in ("train.txt", "vc_valid.csv", "Test-2020.jsonl", "dev.txt", "tweets.js", "train_test.txt")
    ] == [0, 1, 2, 1, None, None]
    assert "--split given keeps their split" in resplit_notice(list(vc_files(tweet_dir)), "0.8,0.1,0.1")
    assert resplit_notice(list(vc_files(tweet_dir)), "given") is None
    assert resplit_notice([str(tweet_dir / "train.txt")], "0.8,0.1,0.1") is None
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tweetsmith.scripts.cli",
            "prepare",
            *vc_files(tweet_dir),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "--split given keeps their split" in result.stderr
