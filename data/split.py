"""Splitting records into train/valid/test: seeded, stratified by author, with bounded memory.

Pass 1 (``add``) spools each record to one of a few bucket files picked by a hash of the record. Pass 2a
drops duplicates within each bucket (a record's duplicates share its bucket) and counts records per
author. Then every author's records are allotted exactly: each split gets floor(n * ratio) or one more,
the extra ones going where the running total is furthest behind, so small authors still feed valid and
test and the overall sizes stay on target. Pass 2b shuffles one bucket at a time (seeded) and hands each
record the next label from its author's shuffled list of labels. Memory holds one bucket (at most
BUCKET_BYTES of text) plus a byte per record, whatever the input size.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from .errors import DataError

Split = Literal["train", "valid", "test"]
SPLIT_NAMES: tuple[Split, ...] = ("train", "valid", "test")
BUCKET_BYTES = 16 * 2**20  # spool bytes per bucket: pass 2 holds one bucket (~4x this in Python objects)
# Write buffers of all bucket files together. One MB each grew with the input: a 1 GB tweets.js gets 60
# buckets, and 60 MB of buffers made prepare's peak twice that of a 100 MB one.
SPOOL_BUFFER_BYTES = 8 * 2**20
GIVEN = "given"  # --split given: each input file stays in the split its name says
SPLIT_WORDS = {  # words in a file name that say its split
    "train": 0,
    "training": 0,
    "valid": 1,
    "validation": 1,
    "val": 1,
    "dev": 1,
    "test": 2,
}


@dataclass(frozen=True, init=False)
class SplitDir:
    """A data directory's split files: ``root/train.txt``, ``valid.txt`` and ``test.txt``, in line format.

    The one owner of the folder's layout: prepare writes through it and every reader (training, eval,
    the report, the app) asks it for a split's path, so the file names are spelled here and nowhere else.
    ``root`` may be given as a str; it is kept as a Path.
    """

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))  # frozen: set once, always a Path

    @staticmethod
    def file_name(split: Split) -> str:
        """``"train"`` -> ``"train.txt"``; an unknown split is a ValueError naming the choices."""
        if split not in SPLIT_NAMES:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_NAMES)}")
        return f"{split}.txt"

    def path(self, split: Split) -> Path:
        return self.root / self.file_name(split)

    @property
    def train(self) -> Path:
        return self.path("train")

    @property
    def valid(self) -> Path:
        return self.path("valid")

    @property
    def test(self) -> Path:
        return self.path("test")

    def missing(self, splits: Iterable[Split] = SPLIT_NAMES) -> list[Split]:
        """Those of ``splits`` (all three by default) with no file, in the order given."""
        return [split for split in splits if not self.path(split).is_file()]

    def complete(self) -> bool:
        """All three split files exist."""
        return not self.missing()


def split_named_by(path: str | Path) -> int | None:
    """The split an input's file name says (``train.txt``, ``vc_valid.csv``, ``test-2020.jsonl``), else None."""
    words = {w for w in re.split(r"[^a-z]+", Path(path).name.lower().split(".")[0]) if w}
    found = {SPLIT_WORDS[w] for w in words if w in SPLIT_WORDS}
    return found.pop() if len(found) == 1 else None


def check_given_split(paths: Sequence[str | Path]) -> list[int]:
    """Each input's split for ``--split given``: every file named for one, and all three splits present."""
    splits = []
    for path in paths:
        split = split_named_by(path)
        if split is None:
            raise DataError(
                f"--split given: {path} does not say its split in its name (train, valid or test); "
                "rename it, or give ratios such as --split 0.8,0.1,0.1"
            )
        splits.append(split)
    missing = [name for index, name in enumerate(SPLIT_NAMES) if index not in splits]
    if missing:
        raise DataError(
            f"--split given: no {' or '.join(missing)} file among the inputs; give all three splits, "
            "or give ratios such as --split 0.8,0.1,0.1"
        )
    return splits


def resplit_notice(paths: list[str | Path], split: str) -> str | None:
    """A one-line notice when the inputs are a train, a valid and a test file but ``split`` re-splits them
    (a student comparing with the assignment's figures wants its split kept), else None."""
    if split == GIVEN or not paths:
        return None
    try:
        check_given_split(paths)
    except DataError:
        return None
    return f"the inputs are train, valid and test files: re-splitting them {split}; --split given keeps their split"


def words_of_line(author: str, line: str) -> int:
    """Words of a record's line: the ``\\author-`` prefix is no word (an authorless line has one only when
    escaped: ``\\- \\x- y``)."""
    return len(line.split()) - (1 if author or line.startswith("\\- ") else 0)


def parse_ratios(text: str) -> tuple[Fraction, Fraction, Fraction]:
    """ "0.8,0.1,0.1" -> exact fractions; three non-negative numbers that sum to 1 (within 1e-9)."""
    parts = str(text).split(",")
    hint = "give train,valid,test ratios like --split 0.8,0.1,0.1"
    if len(parts) != 3:
        raise DataError(f"--split {text}: expected three numbers, got {len(parts)}; {hint}")
    try:
        values = [Fraction(part.strip()) for part in parts]
    except (ValueError, ZeroDivisionError):
        raise DataError(f"--split {text}: not numbers; {hint}") from None
    if any(value < 0 for value in values):
        raise DataError(f"--split {text}: ratios must not be negative; {hint}")
    total = sum(values, Fraction(0))
    if abs(total - 1) > Fraction(1, 10**9):
        try:
            shown = f"{float(total):g}"
        except OverflowError:  # "1e999,0,0" is a valid Fraction but no float
            shown = "more than 1e308"
        raise DataError(f"--split {text}: the ratios sum to {shown}, not 1; {hint}")
    return tuple(value / total for value in values)  # type: ignore[return-value]


def allocate(counts: Mapping[str, int], ratios: tuple[Fraction, ...], seed: int) -> dict[str, tuple[int, ...]]:
    """Records per split for each author: floor(n * ratio) or one more, never further than 1 from n * ratio.

    The extra records of an author go to the splits whose running total (over the authors so far, taken
    in a seeded order) lags its target most, so 1,000 authors with 3 tweets each still give valid and
    test their share instead of all going to train. Integer arithmetic in units of 1/denominator, as a
    dataset may have a million authors.
    """
    denominator = math.lcm(*(Fraction(r).denominator for r in ratios))
    parts = [int(Fraction(r) * denominator) for r in ratios]  # ratio = part / denominator, exactly
    authors = sorted(counts)
    random.Random(f"tweetsmith-allocate:{seed}").shuffle(authors)
    lag = [0] * len(parts)  # how far each split is behind its target, in 1/denominator units
    splits = range(len(parts))
    result = {}
    for author in authors:
        n = counts[author]
        sizes = [n * part // denominator for part in parts]
        remainders = [n * part % denominator for part in parts]
        for s in splits:
            lag[s] += remainders[s]
        extra = n - sum(sizes)
        # Only splits with a fractional share may take one more (else they would be 1 over n * ratio);
        # there are always more of those than extra records.
        if extra == 1:  # the common case (every single-tweet author): no sort
            best = -1
            for s in splits:
                if remainders[s] and (best < 0 or lag[s] > lag[best]):
                    best = s
            sizes[best] += 1
            lag[best] -= denominator
        elif extra:
            candidates = sorted((s for s in splits if remainders[s]), key=lambda s: (-lag[s], s))
            for s in candidates[:extra]:
                sizes[s] += 1
                lag[s] -= denominator
        result[author] = tuple(sizes)
    return result


@dataclass(frozen=True)
class SplitResult:
    """What pass 2 wrote: per split (train, valid, test) records, bytes and words; per author counts."""

    records: tuple[int, ...]
    bytes: tuple[int, ...]
    words: tuple[int, ...]
    authors: dict[str, tuple[int, ...]]
    duplicates: int  # records dropped as exact duplicates of an earlier one (same author and text)


class StratifiedSplitter:
    """Collect lines (``add``), then write ``train.txt``, ``valid.txt`` and ``test.txt`` (``write``).

    A record's bucket is a stable hash of it, so its duplicates share its bucket and are dropped there
    (with ``dedupe``), one bucket in memory at a time: no set of every record ever seen.
    """

    def __init__(
        self, work_dir: Path, ratios: tuple[Fraction, ...], seed: int, bucket_count: int = 1, dedupe: bool = True
    ):
        self.work_dir, self.ratios, self.seed, self.dedupe = Path(work_dir), ratios, seed, dedupe
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.total = 0  # records added (duplicates included)
        self._paths = [self.work_dir / f"bucket-{i}.txt" for i in range(max(1, bucket_count))]
        buffering = min(1 << 20, max(1 << 13, SPOOL_BUFFER_BYTES // len(self._paths)))
        self._files = [open(p, "w", encoding="utf-8", newline="\n", buffering=buffering) for p in self._paths]

    def add(self, author: str, line: str) -> None:
        """Spool one record: its author (a token with no whitespace) and its line (one line, no newline)."""
        row = f"{author}\t{line}\n"
        files = self._files
        self.total += 1
        if len(files) == 1:
            files[0].write(row)
        else:
            files[zlib.crc32(row.encode("utf-8")) % len(files)].write(row)

    def close(self) -> None:
        for f in self._files:
            f.close()

    def _read_bucket(self, index: int) -> list[str]:
        with open(self._paths[index], encoding="utf-8", newline="\n") as f:
            rows = f.read().split("\n")
        rows.pop()  # after the last newline
        return rows

    def _dedupe_and_count(self) -> tuple[dict[str, int], int, list[str]]:
        """Pass 2a: drop duplicates bucket by bucket (rewriting a bucket that had some) and count records
        per author. Returns the counts, the duplicates and the last bucket's rows (kept for pass 2b)."""
        counts: dict[str, int] = {}
        duplicates = 0
        rows: list[str] = []
        for index, path in enumerate(self._paths):
            rows = self._read_bucket(index)
            if self.dedupe:
                kept = list(dict.fromkeys(rows))  # first occurrences, in order
                if len(kept) < len(rows):
                    duplicates += len(rows) - len(kept)
                    if index < len(self._paths) - 1:
                        path.write_text("".join(row + "\n" for row in kept), encoding="utf-8", newline="\n")
                rows = kept
            for row in rows:
                author = row[: row.index("\t")]
                counts[author] = counts.get(author, 0) + 1
        return counts, duplicates, rows

    def write(self, out_dir: Path, on_records: Callable[[int], None] | None = None) -> SplitResult:
        """Write the three split files into ``out_dir``; ``on_records(done)`` reports progress."""
        self.close()
        counts, duplicates, last_rows = self._dedupe_and_count()
        allocation = allocate(counts, self.ratios, self.seed)
        # Every author's labels, shuffled, side by side in one bytearray (a byte per record);
        # next_label[author] is the index of the author's next unused label.
        rng = random.Random(f"tweetsmith-labels:{self.seed}")
        labels = bytearray()
        next_label: dict[str, int] = {}
        for author in sorted(allocation):
            sizes = allocation[author]
            next_label[author] = len(labels)
            if sum(sizes) == 1:
                labels.append(sizes.index(1))
                continue
            pool = bytearray().join(bytes([s]) * size for s, size in enumerate(sizes))
            rng.shuffle(pool)
            labels += pool
        words = [0] * len(SPLIT_NAMES)
        files = SplitDir(out_dir)
        outs = [open(files.path(name), "w", encoding="utf-8", newline="\n", buffering=1 << 20) for name in SPLIT_NAMES]
        done = 0
        try:
            for index, path in enumerate(self._paths):
                rows = last_rows if index == len(self._paths) - 1 else self._read_bucket(index)
                path.unlink()
                random.Random(f"tweetsmith-order:{self.seed}:{index}").shuffle(rows)
                chunks: list[list[str]] = [[] for _ in SPLIT_NAMES]
                for row in rows:
                    author, _, line = row.partition("\t")
                    position = next_label[author]
                    next_label[author] = position + 1
                    label = labels[position]
                    chunks[label].append(line)
                    words[label] += words_of_line(author, line)
                done += len(rows)
                del rows
                for out, chunk in zip(outs, chunks):
                    if chunk:
                        out.write("\n".join(chunk))
                        out.write("\n")
                del chunks
                if on_records:
                    on_records(done)
        finally:
            for out in outs:
                out.close()
        per_split = tuple(sum(sizes[s] for sizes in allocation.values()) for s in range(len(SPLIT_NAMES)))
        sizes_bytes = tuple(files.path(name).stat().st_size for name in SPLIT_NAMES)
        return SplitResult(per_split, sizes_bytes, tuple(words), allocation, duplicates)


class GivenSplitter:
    """``--split given``: records stay in the split of the file they came from (``current``), in their
    order; exact duplicates within a split are dropped with ``dedupe``. The assignment's own split
    (its figures are on its valid and test files) is kept this way. Holds the records in memory:
    given splits are files a person made, not a scrape of millions."""

    def __init__(self, dedupe: bool = True):
        self.dedupe = dedupe
        self.current = 0  # the split of the input being read
        self.total = 0
        self._rows: list[list[tuple[str, str]]] = [[] for _ in SPLIT_NAMES]

    def add(self, author: str, line: str) -> None:
        self._rows[self.current].append((author, line))
        self.total += 1

    def close(self) -> None:
        pass

    def write(self, out_dir: Path, on_records: Callable[[int], None] | None = None) -> SplitResult:
        records, words, duplicates, done = [], [], 0, 0
        authors: dict[str, list[int]] = {}
        files = SplitDir(out_dir)
        for index, name in enumerate(SPLIT_NAMES):
            rows = list(dict.fromkeys(self._rows[index])) if self.dedupe else self._rows[index]
            duplicates += len(self._rows[index]) - len(rows)
            with open(files.path(name), "w", encoding="utf-8", newline="\n") as out:
                out.writelines(line + "\n" for _, line in rows)
            for author, _ in rows:
                authors.setdefault(author, [0] * len(SPLIT_NAMES))[index] += 1
            records.append(len(rows))
            words.append(sum(words_of_line(author, line) for author, line in rows))
            done += len(rows)
            if on_records:
                on_records(done)
        sizes = tuple(files.path(name).stat().st_size for name in SPLIT_NAMES)
        return SplitResult(tuple(records), sizes, tuple(words), {a: tuple(c) for a, c in authors.items()}, duplicates)
