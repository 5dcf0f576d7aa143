"""Memorisation: the suffix-array index against a brute-force longest common word span, the cache, summaries."""

from __future__ import annotations

import json
import random

import pytest

from tweetsmith.data.records import parse_line
from tweetsmith.engine.diversity import tokenize, words_of
from tweetsmith.engine.memorisation import COPY_SPAN_WORDS, MemorisationIndex, index_for_data, is_copied, summarize
from tweetsmith.engine.memorisation_words import span_words
from tweetsmith.engine.suffix_array import suffix_array

WORDS = "the a startup founder money idea build ship users growth raise seed hire fail win fast slow big".split()


def contains_run(record: list[str], run: list[str]) -> bool:
    return any(record[j : j + len(run)] == run for j in range(len(record) - len(run) + 1))


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(7)
    lines = []
    for i in range(400):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 25))]
        if rng.random() < 0.2:  # capitals and punctuation: neither is part of a word span
            words[0] = words[0].capitalize() + ","
        lines.append(f"\\user{i % 7}- " + " ".join(words))
    lines.append("\\quoter- Stay hungry, stay foolish: the whole commencement speech, word for word here")
    samples = []
    for _ in range(120):
        samples.append(" ".join(rng.choice(WORDS + ["novel", "unseen"]) for _ in range(rng.randint(0, 30))))
    samples += [
        "stay HUNGRY stay foolish the whole commencement speech word",
        "whole commencement",
        "unseen novel words",
    ]
    return lines, samples


def test_span_words_are_the_diversity_words():
    texts = [
        "Hello World, it's 18PM :D XD 8P <3 </3",
        "RT @User: #Tag http://Example.com/AbC &amp; co",
        "ÉCOLE straße __ a_b 8-D",
        "",
        "   ",
    ]
    for text in texts:
        assert span_words(text) == words_of(tokenize(text))


def test_longest_span_equals_brute_force(corpus, brute_longest):
    lines, samples = corpus
    index = MemorisationIndex.build(lines)
    records = [span_words(parse_line(line).text) for line in lines]
    for text in samples:
        match = index.match(text)
        words = span_words(text)
        expected = max(brute_longest(words, r) for r in records)
        assert match.words == expected, text
        assert match.sample_words == len(words)
        assert match.copied == (expected >= COPY_SPAN_WORDS or (0 < len(words) == expected))
        if expected:
            run = words[match.start : match.start + match.words]
            assert match.span == " ".join(run)
            assert match.record_text == lines[match.record]
            assert contains_run(records[match.record], run)
            assert text[match.char_start : match.char_end].lower().split()[0] == run[0]
        else:
            assert match.record is None and not match.copied


def test_copies_and_boundaries():
    lines = ["\\a- one two three", "\\b- four five six seven eight nine ten eleven twelve", "", "\\c- Three four five"]
    index = MemorisationIndex.build([line for line in lines if line])
    whole = index.match("FOUR five six seven eight nine ten eleven: twelve!")
    assert (whole.words, whole.copied, whole.record) == (9, True, 1)
    across = index.match("one two three four five")  # records a and b are neighbours: no span crosses them
    assert across.words == 3 and not across.copied
    short = index.match("three four")  # the whole (short) sample is in record c
    assert (short.words, short.copied, short.record_text) == (2, True, "\\c- Three four five")
    assert not index.match("").copied and index.match("").words == 0
    assert index.match("zebra").record is None


def test_is_copied_rule():
    assert is_copied(8, 20) and not is_copied(7, 20)
    assert is_copied(3, 3) and not is_copied(2, 3) and not is_copied(0, 0)


def test_suffix_array_sorts_suffixes():
    import numpy as np

    rng = np.random.default_rng(0)
    ids = rng.integers(1, 4, size=300)
    order = suffix_array(ids)
    suffixes = [tuple(ids[i:]) for i in range(len(ids))]
    assert list(order) == sorted(range(len(ids)), key=lambda i: suffixes[i])


def test_index_is_cached_per_training_file(tmp_path, corpus):
    lines, samples = corpus
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("\n".join(lines[:200]) + "\n\n" + "\n".join(lines[200:]) + "\n", encoding="utf-8")
    cache = tmp_path / "cache"
    built = index_for_data(data, cache=cache)
    folders = list(cache.iterdir())
    assert len(folders) == 1 and json.loads((folders[0] / "meta.json").read_text())["records"] == len(lines)
    loaded = index_for_data(data, cache=cache)
    assert list(cache.iterdir()) == folders  # loaded, not rebuilt
    for text in samples:
        a, b = built.match(text), loaded.match(text)
        assert a == b
        if a.record is not None:
            assert a.record_text == lines[a.record]  # read back from train.txt by byte offsets
    (data / "train.txt").write_text("\\x- something else entirely\n", encoding="utf-8")
    assert index_for_data(data, cache=cache).records == 1 and len(list(cache.iterdir())) == 2


def test_summary(corpus):
    lines, samples = corpus
    index = MemorisationIndex.build(lines)
    matches = index.match_many(samples)
    summary = summarize(matches, worst=3)
    assert summary.samples == len(samples)
    assert summary.copied == sum(m.copied for m in matches)
    assert summary.copied_share == pytest.approx(summary.copied / len(samples))
    assert sum(summary.histogram.values()) == len(samples)
    assert summary.span_max == max(m.words for m in matches)
    assert [m.words for _, m in summary.worst] == sorted((m.words for m in matches), reverse=True)[:3]
    out = summary.to_json()  # the layout `tweetsmith memorisation --json` prints
    assert out["longest_span"]["max"] == summary.span_max and [w["words"] for w in out["worst"]] == [
        m.words for _, m in summary.worst
    ]
