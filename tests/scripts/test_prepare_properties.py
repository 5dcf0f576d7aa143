"""`tweetsmith prepare` on every bad input we can generate: it prepares, or it refuses in one line.

Hypothesis builds inputs of every format (line files, CSV/TSV, JSON Lines and JSON arrays, Twitter
archives' tweets.js, plain text), fills them with hostile text (control characters, line separators,
lone surrogates in JSON, BOMs, NULs, entities, prefix look-alikes), mutates their bytes (truncation,
inserted garbage, deleted and repeated slices), and runs the command in-process with random flags. Every
run must end one of two ways:

- exit 0: DIR holds train/valid/test.txt and stats.json, every record one non-blank line of UTF-8 that
  reads back as the author stats.json counts it under, and the counts agree with the files;
- exit 2: exactly one line on stderr, ``tweetsmith: error: ...``, nothing on stdout, and DIR as it was
  (absent, or a previous output byte for byte), with no temp directory left beside it.

Either way stderr may also hold, before anything else, one notice per input that named no author
("no author in x.txt: records are by 'x' ..."), and only for an input stats.json says got that name.

Never a traceback, never half a DIR. ~5,300 examples (1,000 per format, 300 mixed); the default profile
draws the same ones every run (see tests/conftest.py), HYPOTHESIS_PROFILE=explore draws new ones. Each
costs ~6 ms of CPU: strategies are built once, and the files live in tmpfs where there is one.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tweetsmith.data.records import parse_line
from tweetsmith.scripts.cli import main

SPLITS = ("train.txt", "valid.txt", "test.txt")
EXAMPLES = 1000  # per format; five formats and the mixed test (300): ~5,300 inputs

# --- text ----------------------------------------------------------------------------------------

TWEETS = [
    "The best startups start as side projects 🚀",
    "Q&amp;A tonight with @sama — bring questions!",
    "RT @pmarca: software is eating the world",
    "@paulg agreed, that's the whole point",
    "read this https://t.co/AbC123 (via @joshk)",
    'she said "yes", then: no; then\tmaybe',
    "\\paulg- a tweet that quotes the line format",
    "naïve café façade — déjà vu",
    "multi\nline\r\ntweet\u2028with separators\x85and more",
    "   ",
    "",
    "x" * 300,
]
AUTHORS = ["paulg", "sama", "Van Buren", "@joshk", "a-b", "\\weird", "ünïcode", "名前", "", " ", "tab\there", "x" * 50]
# Characters that break naive code: NUL, controls, every line break str.splitlines knows, BOM, RTL mark,
# combining marks, emoji with joiners, and (for JSON only) lone surrogates.
NASTY = "\x00\x01\x07\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x7f\x85\xa0\u200b\u200f\u2028\u2029\ufeff\u0301👩‍💻\\-:,;\"'&<>"
SURROGATES = "\ud800\udbff\udc00\udfff"

plain_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)) | st.sampled_from(NASTY), max_size=60)
text = st.one_of(st.sampled_from(TWEETS), plain_text)
json_text = st.one_of(text, st.text(alphabet=st.sampled_from(NASTY + SURROGATES + "ab "), max_size=20))
author = st.one_of(st.sampled_from(AUTHORS), plain_text)
field_names = st.sampled_from(
    [
        "text",
        "full_text",
        "tweet",
        "content",
        "body",
        "username",
        "screen_name",
        "user",
        "author",
        "name",
        "id",
        "likes",
        "Text",
        " TEXT ",
        "",
        "tëxt",
    ]
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False) | json_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(field_names | json_text, children, max_size=3),
    max_leaves=6,
)


# --- documents of each format (bytes), before mutation -------------------------------------------------
# Every strategy is built once, here: built inside a composite it was validated afresh on every draw,
# ~40% of the time spent drawing an example.


def _mostly(good, bad):
    """Values from ``good`` mostly: most documents should get past their first bytes to what lies behind."""
    return st.one_of(good, good, good, bad)


def _mostly_index(draw) -> bool:
    """True three times in four (the simplest value, 0, is True): ``_mostly`` for a value drawn already."""
    return draw(st.integers(0, 3)) < 3


_line_rows = st.lists(st.tuples(author, text, st.booleans()), min_size=1, max_size=25)
_paragraphs = st.lists(st.lists(text, min_size=1, max_size=4), min_size=1, max_size=8)
_csv_header = st.lists(field_names, min_size=1, max_size=5)
_csv_rows = {width: st.lists(st.lists(text | author, max_size=width + 2), max_size=20) for width in range(1, 6)}
_text_keys = _mostly(st.sampled_from(["text", "full_text", "content", "tweet", "body"]), field_names)
_author_keys = _mostly(st.sampled_from(["username", "screen_name", "user", "author", "name"]), field_names)
_author_values = _mostly(author, st.builds(lambda a: {"screen_name": a}, author) | json_value)
# ("good", (text, author, extra fields)) for an object with the file's keys, ("other", value) for anything else
_good_object = st.tuples(json_text, _author_values, st.dictionaries(field_names, json_value, max_size=2))
_other_object = json_value | st.dictionaries(field_names, json_value, max_size=4)
_json_objects = st.lists(
    _mostly(st.tuples(st.just("good"), _good_object), st.tuples(st.just("other"), _other_object)),
    min_size=1,
    max_size=10,
)
_tweet = st.builds(
    lambda t, extra: {**extra, "full_text": t},
    _mostly(json_text, json_value),
    st.dictionaries(st.sampled_from(["id", "text", "lang", "full_text"]), json_value, max_size=2),
)
_archive_items = st.lists(_mostly(st.builds(lambda t: {"tweet": t}, _tweet), _tweet | json_value), max_size=8)
_archive_prefixes = _mostly(
    st.sampled_from(["window.YTD.tweets.part0 = ", "window.YTD.tweet.part1="]),
    st.sampled_from(["window.YTD.x = ", "", "var tweets = ", "window.YTD = "]),
)
_accounts = _mostly(st.builds(lambda a: [{"account": {"username": a}}], author), json_value)
_names = {
    kind: st.sampled_from(names)
    for kind, names in {
        "lines": ["tweets.txt", "data.lines", "x"],
        "text": ["speech.txt", "notes.md", "README"],
        "csv": ["tweets.csv", "tweets.tsv", "export.txt", "data"],
        "jsonl": ["tweets.jsonl", "tweets.json", "x.ndjson", "dump.txt"],
        "archive": ["tweets.js", "tweet.js", "tweets-part2.js", "archive.js"],
    }.items()
}
_delimiters = st.sampled_from([",", "\t", ";", "|"])
_quoting = st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
_indents = st.sampled_from([None, 1])
_newlines = st.sampled_from(["\n", "\r\n", "\r"])
_encodings = st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-16", "latin-1", "cp1252"])
_mutations = st.sampled_from(["truncate", "insert", "delete", "repeat", "flip"])
_inserts = st.sampled_from(
    [b"\x00", b"\xff\xfe", b"\xc3", b"\xe2\x80", b"\n\n", b'"', b"{", b"\\", b"\xef\xbb\xbf", b"\r"]
) | st.binary(max_size=8)


@st.composite
def line_file(draw):
    lines = [f"\\{a}- {t}" if prefixed else t for a, t, prefixed in draw(_line_rows)]
    return draw(_names["lines"]), _join(draw, lines)


@st.composite
def text_file(draw):
    lines = [line for paragraph in draw(_paragraphs) for line in [*paragraph, ""]]
    return draw(_names["text"]), _join(draw, lines)


@st.composite
def csv_file(draw):
    delimiter = draw(_delimiters)
    header = draw(_csv_header)
    rows = draw(_csv_rows[len(header)])
    buffer = io.StringIO()
    if draw(st.booleans()):  # a proper writer: quoted fields, embedded newlines and all
        writer = csv.writer(buffer, delimiter=delimiter, quoting=draw(_quoting))
        writer.writerow(header)
        writer.writerows(rows)
        content = buffer.getvalue()
    else:  # joined by hand: stray quotes and delimiters inside fields
        content = "\n".join(delimiter.join(row) for row in [header, *rows])
    return draw(_names["csv"]), _encode(draw, content)


@st.composite
def jsonl_file(draw):
    text_key, author_key = draw(_text_keys), draw(_author_keys)
    objects = []
    for kind, value in draw(_json_objects):
        if kind == "good":
            t, a, extra = value
            value = {**extra, text_key: t, author_key: a}
        objects.append(value)
    ensure_ascii = draw(st.booleans())  # True writes lone surrogates as \ud800 escapes, which JSON allows
    if draw(st.booleans()):
        content = json.dumps(objects, ensure_ascii=ensure_ascii, indent=draw(_indents))
    else:
        content = "\n".join(json.dumps(o, ensure_ascii=ensure_ascii) for o in objects)
    return draw(_names["jsonl"]), _encode(draw, content, surrogates=not ensure_ascii)


@st.composite
def archive_file(draw):
    """An archive's tweets.js, sometimes with its account.js beside it (the author's username)."""
    items = draw(_archive_items)
    prefix = draw(_archive_prefixes)
    body = json.dumps(items if _mostly_index(draw) else draw(json_value), ensure_ascii=draw(st.booleans()))
    files = [(draw(_names["archive"]), _encode(draw, prefix + body, surrogates=True))]
    if draw(st.booleans()):
        files.append(("account.js", ("window.YTD.account.part0 = " + json.dumps(draw(_accounts))).encode("utf-8")))
    return files


def _join(draw, lines: list[str]) -> bytes:
    newline = draw(_newlines)
    content = newline.join(lines) + (newline if draw(st.booleans()) else "")
    return _encode(draw, content)


def _encode(draw, content: str, surrogates: bool = False) -> bytes:
    """UTF-8 mostly, sometimes another encoding or a BOM (the --encoding flag may or may not match)."""
    encoding = draw(_encodings)
    return content.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")


@st.composite
def mutated(draw, document):
    """A document, often with a few byte-level mutations: the files users actually have. A list of
    (name, bytes): the input first, then any files that belong beside it (mutated are the input's bytes)."""
    files = draw(document)
    (name, data), siblings = (files[0], files[1:]) if isinstance(files, list) else (files, [])
    for _ in range(draw(st.integers(0, 3))):
        data = bytearray(data)
        at = draw(st.integers(0, len(data)))
        kind = draw(_mutations)
        if kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(_inserts)
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        elif kind == "repeat":
            data[at:at] = data[max(0, at - 40) : at]
        elif data and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        data = bytes(data)
    return [(name, data), *siblings]


# --- flags -----------------------------------------------------------------------------------------


def _sometimes(draw, one_in: int) -> bool:
    """True about one time in ``one_in`` (drawn so that the simplest value, 1, means no)."""
    return draw(st.integers(1, one_in)) == one_in


def _good_or_bad(draw, good, bad):
    """Mostly a good value, one time in five a bad one: most runs should reach the data."""
    return draw(bad if _sometimes(draw, 5) else good)


_formats = st.sampled_from(["auto", "lines", "csv", "tsv", "jsonl", "twitter", "text"])
_good_encodings = st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252", "utf-8-sig", "utf-32", "utf-7"])
_bad_encodings = st.sampled_from(["ascii", "klingon", "", "idna", "punycode", "unicode_escape", "rot13", "hex"])
_good_splits = st.sampled_from(["0.8,0.1,0.1", "1,0,0", "0,0,1", "1/3,1/3,1/3", " 1 , 0 , 0 "])
_bad_splits = st.sampled_from(["0.5,0.5", "a,b,c", "0.9,0.2,-0.1", "nan,0,1", "1e999,0,0", ""])
_max_chars = (st.integers(1, 120), st.integers(-3, 0))
_seeds = st.integers(-(2**70), 2**70)


@st.composite
def flags(draw):
    argv: list[str] = []
    if _sometimes(draw, 4):
        argv.append(f"--format={draw(_formats)}")
    if _sometimes(draw, 4):
        argv.append(f"--encoding={_good_or_bad(draw, _good_encodings, _bad_encodings)}")
    if _sometimes(draw, 5):
        argv.append(f"--author={draw(author)}")
    if _sometimes(draw, 5):
        argv.append(f"--text-col={_good_or_bad(draw, field_names, plain_text)}")
    if _sometimes(draw, 5):
        argv.append(f"--author-col={_good_or_bad(draw, field_names, plain_text)}")
    if _sometimes(draw, 4):
        argv.append(f"--max-chars={_good_or_bad(draw, *_max_chars)}")
    if _sometimes(draw, 4):
        argv.append(f"--split={_good_or_bad(draw, _good_splits, _bad_splits)}")
    if _sometimes(draw, 4):
        argv.append(f"--seed={draw(_seeds)}")
    for flag in (
        "--by-paragraph",
        "--keep-retweets",
        "--keep-replies",
        "--keep-urls",
        "--no-unescape",
        "--no-normalize-space",
        "--keep-duplicates",
        "--json",
    ):
        if _sometimes(draw, 4):
            argv.append(flag)
    return argv


# --- running and checking ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Where the examples run: in memory (/dev/shm) where there is one. Each example makes and removes
    some twenty files and folders; on a busy VM's disk that metadata alone took ~9 ms an example, more
    than the rest of it, and 0.2 ms in tmpfs. Elsewhere, pytest's tmp_path."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp("prepare-properties")
        return
    path = Path(tempfile.mkdtemp(prefix="tweetsmith-prepare-properties-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def _one_parser():
    """main() builds the whole command line's parser on each call (~15 ms, a third of an example's time);
    one parser answers every parse_args here as well."""
    from tweetsmith.scripts import cli

    parser = cli.build_parser()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "build_parser", lambda: parser)
        yield


@pytest.fixture(scope="module")
def previous_output(workdir):
    """A DIR left by an earlier successful prepare: a failed run must leave it byte for byte."""
    source = workdir / "previous.txt"
    source.write_text("".join(f"\\u{i % 3}- earlier tweet number {i}\n" for i in range(30)), encoding="utf-8")
    out = workdir / "previous-out"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["prepare", str(source), "--out", str(out)]) == 0
    return out


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_prepare(workdir: Path, previous: Path, inputs: list[tuple[str, bytes]], argv: list[str], reuse_out: bool):
    """Write the inputs, run ``tweetsmith prepare`` in-process, check the outcome; returns the exit code."""
    case = Path(tempfile.mkdtemp(dir=workdir))
    try:
        paths = []
        for index, files in enumerate(inputs):
            folder = case / f"in{index}"
            folder.mkdir()
            for name, data in files:
                (folder / name).write_bytes(data)
            paths.append(str(folder / files[0][0]))
        out = case / "out"
        before = None
        if reuse_out:
            shutil.copytree(previous, out)
            before = _tree(out)
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["prepare", *paths, "--out", str(out), *argv])
        stdout, stderr = stdout.getvalue(), stderr.getvalue()
        leftovers = [p.name for p in case.iterdir() if p.name.startswith(".")]
        assert not leftovers, f"temp dirs left beside DIR: {leftovers}"
        assert "Traceback" not in stderr
        notices, lines = split_notices(stderr)
        names = {Path(path).name for path in paths}
        assert all(name in names for name, _ in notices), stderr
        if any(arg.startswith("--author=") for arg in argv):
            assert notices == [], "--author names every record: no input is authorless"
        if code == 0:
            check_prepared(out, stdout, lines, notices, "--json" in argv)
        else:
            assert code == 2, (code, stderr)
            assert len(lines) == 1 and lines[0].startswith("tweetsmith: error: ") and stderr.endswith("\n"), stderr
            assert stdout == ""
            if before is None:
                assert not out.exists(), "a failed prepare left DIR behind"
            else:
                assert _tree(out) == before, "a failed prepare changed the previous output"
        return code
    finally:
        shutil.rmtree(case, ignore_errors=True)


def check_prepared(
    out: Path, stdout: str, other_lines: list[str], notices: list[tuple[str, str]], as_json: bool
) -> None:
    assert other_lines == []
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    named = {(Path(i["source"]).name, i["default_author"]) for i in stats["inputs"] if i["default_author"] is not None}
    assert set(notices) <= named, (notices, named)
    if as_json:
        assert stdout.count("\n") == 1 and json.loads(stdout) == stats
    authors: dict[str, int] = {}
    total = 0
    for split in SPLITS:
        raw = (out / split).read_bytes()
        lines = raw.decode("utf-8").split("\n")  # strict: the splits are UTF-8
        assert lines.pop() == "", f"{split} does not end with a newline"
        for line in lines:
            assert line.strip(), f"{split}: a blank record"
            assert len(line.splitlines()) == 1, f"{split}: a record split over lines: {line!r}"
            record = parse_line(line)
            assert record.text.strip(), f"{split}: a record without text: {line!r}"
            authors[record.author] = authors.get(record.author, 0) + 1
        name = split.removesuffix(".txt")
        assert stats["splits"][name]["records"] == len(lines) and stats["splits"][name]["bytes"] == len(raw)
        total += len(lines)
    assert stats["records"] == total > 0
    # Every line reads back under the author stats.json counts it for: the line format is not ambiguous.
    assert authors == {a: c["total"] for a, c in stats["authors"].items()}


NOTICE = re.compile(r"no author in (.+): records are by '(.*)' \(give --author NAME to choose\)")


def split_notices(stderr: str) -> tuple[list[tuple[str, str]], list[str]]:
    """((input name, author) of each author notice, the other lines); notices come first."""
    lines = stderr.splitlines()
    notices = [match.groups() for line in lines if (match := NOTICE.fullmatch(line))]
    return notices, lines[len(notices) :]


SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@pytest.mark.parametrize(
    "document",
    [line_file, csv_file, jsonl_file, archive_file, text_file],
    ids=["lines", "csv", "jsonl", "tweets.js", "text"],
)
def test_prepare_prepares_or_refuses_in_one_line(document, workdir, previous_output):
    outcomes = []

    @SETTINGS
    @given(inputs=st.lists(mutated(document()), min_size=1, max_size=2), argv=flags(), reuse_out=st.booleans())
    def check(inputs, argv, reuse_out):
        outcomes.append(run_prepare(workdir, previous_output, inputs, argv, reuse_out))

    check()
    # The generator is only useful if it reaches both ends: inputs that prepare and inputs that are refused.
    assert outcomes.count(0) >= EXAMPLES // 20 and outcomes.count(2) >= EXAMPLES // 20, (
        outcomes.count(0),
        outcomes.count(2),
    )


@settings(SETTINGS, max_examples=300)
@given(
    inputs=st.lists(
        mutated(st.one_of(line_file(), csv_file(), jsonl_file(), archive_file(), text_file())), min_size=2, max_size=4
    ),
    argv=flags(),
    reuse_out=st.booleans(),
)
def test_mixed_inputs_prepare_or_refuse_in_one_line(inputs, argv, reuse_out, workdir, previous_output):
    run_prepare(workdir, previous_output, inputs, argv, reuse_out)
