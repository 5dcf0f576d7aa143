"""Bootstrap intervals and the human band, against a bootstrap written here (a plain loop over draws)."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from tweetsmith.engine.bootstrap import HumanBand, human_band, intervals, replicates, verdict
from tweetsmith.engine.diversity import diversity, ngrams, reference_from_lines, tokenize, words_of

WORDS = "the a startup founder money idea build ship users growth raise seed hire fail win fast slow big , ! ?".split()


def make_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0 if i == 3 else 2, 14))) for i in range(n)]


def loop_bootstrap(texts, reference, seed, resamples):
    """Each figure per draw, by a plain loop: n-gram counts with Counter, BLEU with nltk."""
    tokens = [tokenize(t) for t in texts]
    words = [words_of(t) for t in tokens]
    n = len(texts)
    figures: dict[str, list[float]] = {}

    def shares(items_per_sample, keep=lambda item: True):
        held = Counter(item for items in items_per_sample for item in items)
        return (
            [sum(1 / held[i] for i in items if keep(i)) for items in items_per_sample],
            [sum(1 / held[i] for i in items) for items in items_per_sample],
        )

    grams = {k: [ngrams(t, k) for t in tokens] for k in (1, 2, 3)}
    unique = {k: shares(grams[k])[1] for k in (1, 2, 3)}
    smooth = SmoothingFunction().method1
    bleu = [
        sentence_bleu(tokens[:i] + tokens[i + 1 :], tokens[i], weights=(0.25,) * 4, smoothing_function=smooth)
        for i in range(n)
    ]
    type_in, type_all = shares([set(w) for w in words], lambda w: w in reference.vocab)
    bi_in, bi_all = shares([set(ngrams(w, 2)) for w in words], lambda g: g in reference.bigrams)
    for row in np.random.default_rng(seed).integers(0, n, size=(resamples, n)):
        drawn = list(row)

        def ratio(num, den):
            d = sum(den[i] for i in drawn)
            return sum(num[i] for i in drawn) / d if d else 0.0

        for k in (1, 2, 3):
            figures.setdefault(f"dist_{k}", []).append(ratio(unique[k], [len(g) for g in grams[k]]))
        figures.setdefault("self_bleu", []).append(sum(bleu[i] for i in drawn) / n)
        figures.setdefault("mean_words", []).append(sum(len(words[i]) for i in drawn) / n)
        hits = [sum(w in reference.vocab for w in ws) for ws in words]
        figures.setdefault("overlap", []).append(ratio(hits, [len(w) for w in words]))
        figures.setdefault("overlap_types", []).append(ratio(type_in, type_all))
        figures.setdefault("overlap_bigrams", []).append(ratio(bi_in, bi_all))
    return figures


@pytest.fixture(scope="module")
def data():
    texts = make_texts(40, 1)
    reference = reference_from_lines(make_texts(60, 2), name="ref")
    return texts, reference


def test_replicates_equal_a_plain_bootstrap(data):
    texts, reference = data
    ours = replicates(texts, reference=reference, resamples=50, seed=5)
    theirs = loop_bootstrap(texts, reference, seed=5, resamples=50)
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-9, abs=1e-12), key
    bounds = intervals(texts, reference=reference, resamples=50, seed=5).bounds
    for key, values in theirs.items():
        assert bounds[key] == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])), rel=1e-9), key


def test_a_draw_of_every_sample_once_gives_the_point_values(data):
    texts, reference = data
    identity = np.arange(len(texts))[None, :]
    point = diversity(texts, reference=reference).to_dict()
    for key, values in replicates(texts, reference=reference, indices=identity).items():
        assert values[0] == pytest.approx(point[key], rel=1e-12), key


def test_intervals_are_seeded_and_hold_the_point(data):
    texts, reference = data
    a = intervals(texts, reference=reference, seed=3)
    assert a == intervals(texts, reference=reference, seed=3) and a.resamples == 1000
    assert a != intervals(texts, reference=reference, seed=4)
    point = diversity(texts, reference=reference).to_dict()
    for key, (low, high) in a.bounds.items():
        assert low <= point[key] <= high, key
    assert a.to_dict()["bounds"]["dist_1"] == list(a.bounds["dist_1"])


def test_human_band_against_subsets_drawn_here():
    test_texts = make_texts(30, 9)
    band = human_band(test_texts, 8, repeats=6, seed=2)
    rng = np.random.default_rng(2)
    per_key: dict[str, list[float]] = {}
    for _ in range(6):
        chosen = rng.choice(30, size=8, replace=False)
        rest = reference_from_lines([t for i, t in enumerate(test_texts) if i not in set(chosen)])
        result = diversity([test_texts[i] for i in chosen], reference=rest).to_dict()
        for key in band.bounds:
            per_key.setdefault(key, []).append(result[key])
    assert set(band.bounds) == {
        "dist_1",
        "dist_2",
        "dist_3",
        "self_bleu",
        "mean_words",
        "overlap",
        "overlap_types",
        "overlap_bigrams",
    }
    for key, values in per_key.items():
        assert band.bounds[key] == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])), rel=1e-12), key
        assert band.means[key] == pytest.approx(np.mean(values))
    assert HumanBand.from_dict(band.to_dict()) == band
    assert human_band(test_texts[:5], 8, repeats=3).n == 5  # fewer tweets than asked: all of them


def test_verdict():
    assert verdict(0.5, (0.4, 0.6)) == "within"
    assert verdict(0.7, (0.4, 0.6)) == "above" and verdict(0.3, (0.4, 0.6)) == "below"
    assert verdict(None, (0.4, 0.6)) is None and verdict(0.5, None) is None


def test_per_sample_self_bleu_is_nltks_exactly():
    """The scores the intervals resample: nltk's sentence_bleu against all other samples, bit for bit, and
    the same on every call (fast_bleu 0.0.90 returned a different score now and then on such texts)."""
    from tweetsmith.engine.diversity import exact_self_bleu_scores

    rng = random.Random(4)
    for _trial in range(30):
        lists = [[rng.choice(WORDS[:6]) for _ in range(rng.randint(0, 13))] for _ in range(rng.randint(2, 9))]
        for weights in ((0.25,) * 4, (0.5, 0.5), (1.0,)):
            smooth = SmoothingFunction().method1
            expected = [
                sentence_bleu(lists[:i] + lists[i + 1 :], h, weights=weights, smoothing_function=smooth)
                for i, h in enumerate(lists)
            ]
            assert exact_self_bleu_scores(lists, weights) == expected
