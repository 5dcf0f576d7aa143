"""Ratios, the per-author allocation and the bucketed splitter, checked against hand counts."""

from __future__ import annotations

import random
from collections import Counter
from fractions import Fraction

import pytest

from tweetsmith.data import DataError
from tweetsmith.data.split import StratifiedSplitter, allocate, parse_ratios

EIGHTY = (Fraction(8, 10), Fraction(1, 10), Fraction(1, 10))


def test_parse_ratios():
    assert parse_ratios("0.8,0.1,0.1") == EIGHTY
    assert parse_ratios(" 0.6, 0.2 ,0.2") == (Fraction(3, 5), Fraction(1, 5), Fraction(1, 5))
    assert parse_ratios("1,0,0") == (1, 0, 0)
    for bad, why in [
        ("0.8,0.2", "three numbers"),
        ("a,b,c", "not numbers"),
        ("1.2,-0.1,-0.1", "negative"),
        ("0.5,0.3,0.3", "sum to 1.1"),
        ("0.8,0.1,0.1,0", "three numbers"),
    ]:
        with pytest.raises(DataError, match=why):
            parse_ratios(bad)


def test_allocation_is_within_one_per_author_and_on_target_overall():
    rng = random.Random(1)
    counts = {f"a{i}": rng.choice([1, 2, 3, 5, 7, 10, 99, 1000]) for i in range(500)}
    allocation = allocate(counts, EIGHTY, seed=0)
    for author, sizes in allocation.items():
        n = counts[author]
        assert sum(sizes) == n
        for size, ratio in zip(sizes, EIGHTY):
            assert abs(size - n * ratio) < 1
    total = sum(counts.values())
    for s, ratio in enumerate(EIGHTY):
        assert abs(sum(sizes[s] for sizes in allocation.values()) - total * ratio) <= 2
    # Small authors still feed valid and test (not all rounded into train).
    small = {f"s{i}": 3 for i in range(1000)}
    by_split = [sum(sizes[s] for sizes in allocate(small, EIGHTY, seed=0).values()) for s in range(3)]
    assert by_split == [2400, 300, 300]
    singles = {f"s{i}": 1 for i in range(1000)}
    assert [sum(sizes[s] for sizes in allocate(singles, EIGHTY, seed=0).values()) for s in range(3)] == [800, 100, 100]


def test_zero_ratio_split_stays_empty():
    allocation = allocate({"a": 7, "b": 1}, (Fraction(1, 2), Fraction(1, 2), Fraction(0)), seed=3)
    assert all(sizes[2] == 0 for sizes in allocation.values())


def run_splitter(tmp_path, rows, seed, buckets, dedupe=True, name="out"):
    splitter = StratifiedSplitter(tmp_path / f"{name}-work", EIGHTY, seed, buckets, dedupe=dedupe)
    for author, line in rows:
        splitter.add(author, line)
    out = tmp_path / name
    out.mkdir()
    result = splitter.write(out)
    files = {s: (out / f"{s}.txt").read_text(encoding="utf-8").splitlines() for s in ("train", "valid", "test")}
    return result, files


@pytest.mark.parametrize("buckets", [1, 4])
def test_splitter_partitions_dedupes_and_is_deterministic(tmp_path, buckets):
    rng = random.Random(0)
    rows = [(f"u{rng.randrange(7)}", None) for _ in range(3000)]
    rows = [(a, f"\\{a}- text {rng.randrange(2500)}") for a, _ in rows]  # some exact duplicates
    unique = list(dict.fromkeys(rows))
    result, files = run_splitter(tmp_path, rows, seed=5, buckets=buckets)
    out_lines = files["train"] + files["valid"] + files["test"]
    assert Counter(out_lines) == Counter(line for _, line in unique)  # each kept record once, in one split
    assert result.duplicates == len(rows) - len(unique)
    per_author = Counter(a for a, _ in unique)
    for s, name in enumerate(("train", "valid", "test")):
        got = Counter(line[1 : line.index("-")] for line in files[name])
        assert result.records[s] == len(files[name])
        for author, n in per_author.items():
            assert abs(got[author] - n * EIGHTY[s]) < 1
            assert result.authors[author][s] == got[author]
        assert result.words[s] == sum(len(line.split()) - 1 for line in files[name])
    again, files_again = run_splitter(tmp_path, rows, seed=5, buckets=buckets, name="again")
    assert files_again == files
    _, other = run_splitter(tmp_path, rows, seed=6, buckets=buckets, name="other")
    assert other != files
    assert not list((tmp_path / "out-work").iterdir())  # buckets removed


def test_splitter_keeps_duplicates_when_asked(tmp_path):
    rows = [("a", "\\a- same")] * 10
    result, files = run_splitter(tmp_path, rows, seed=0, buckets=2, dedupe=False)
    assert result.duplicates == 0 and result.records == (8, 1, 1)
    assert sum(len(v) for v in files.values()) == 10
