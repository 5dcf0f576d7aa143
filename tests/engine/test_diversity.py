"""Text metrics against nltk itself and hand-built expectations."""

from __future__ import annotations

import pytest
from nltk.tokenize import TweetTokenizer
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.util import ngrams as nltk_ngrams

from tweetsmith.data.records import parse_line
from tweetsmith.engine.diversity import DiversityResult, diversity, reference_from_lines


def nltk_self_bleu(texts, n):
    tok = TweetTokenizer(preserve_case=False)
    lists = [tok.tokenize(t) for t in texts]
    weights, smooth = (1 / n,) * n, SmoothingFunction().method1
    scores = [
        sentence_bleu(lists[:i] + lists[i + 1 :], h, weights=weights, smoothing_function=smooth)
        for i, h in enumerate(lists)
    ]
    return sum(scores) / len(scores)


def nltk_dist(texts, n):
    tok = TweetTokenizer(preserve_case=False)
    grams = [g for t in texts for g in nltk_ngrams(tok.tokenize(t), n)]
    return len(set(grams)) / len(grams)


@pytest.fixture(scope="module")
def tweets(tweets_factory):
    return [parse_line(line).text for line in tweets_factory(80, seed=3)]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_self_bleu_equals_nltk(tweets, n):
    result = diversity(tweets, bleu_n=n)
    assert result.self_bleu == pytest.approx(nltk_self_bleu(tweets, n), abs=1e-6)
    assert result.self_bleu_n == n and result.samples == 80
    assert result.to_dict()["self_bleu"] == result.self_bleu and result.to_dict()["self_bleu_n"] == n
    assert DiversityResult.from_dict(result.to_dict()) == result


def test_self_bleu_edge_cases_equal_nltk():
    texts = ["", "a", "a b", "the cat sat on the mat", "the cat sat on the mat", "THE CAT sat!"]
    assert diversity(texts).self_bleu == pytest.approx(nltk_self_bleu(texts, 4), abs=1e-6)
    assert diversity(["only one"]).self_bleu is None
    assert diversity([]).self_bleu is None and diversity([]).samples == 0
    assert "(1 samples)" in diversity(["only one"]).self_bleu_label()


def test_dist_n_equals_nltk_ngrams(tweets):
    result = diversity(tweets)
    assert result.dist_1 == pytest.approx(nltk_dist(tweets, 1))
    assert result.dist_2 == pytest.approx(nltk_dist(tweets, 2))
    assert result.dist_3 == pytest.approx(nltk_dist(tweets, 3))


def test_dist_by_hand():
    # tokens: [a b a] and [a b]: unigrams 5 total {a, b} -> 2/5; bigrams [ab, ba, ab] -> 2/3; trigrams [aba] -> 1/1
    result = diversity(["a b a", "A B"])
    assert (result.dist_1, result.dist_2, result.dist_3) == (pytest.approx(2 / 5), pytest.approx(2 / 3), 1.0)


def test_overlap_by_hand():
    reference = reference_from_lines(["\\paulg- The cat sat.", "\\sama- a dog ran", "plain line here"])
    assert reference.vocab == {"the", "cat", "sat", "a", "dog", "ran", "plain", "line", "here"}
    assert ("cat", "sat") in reference.bigrams and ("paulg",) not in reference.vocab
    # generated words: the cat ran ran fast! -> words [the, cat, ran, ran, fast] (punctuation is not a word)
    result = diversity(["The cat ran", "ran fast!"], reference=reference)
    assert result.overlap == pytest.approx(4 / 5)  # the, cat, ran, ran in; fast out
    assert result.overlap_types == pytest.approx(3 / 4)  # {the, cat, ran} of {the, cat, ran, fast}
    assert result.overlap_bigrams == pytest.approx(1 / 3)  # (the, cat) of {(the, cat), (cat, ran), (ran, fast)}
    assert result.mean_words == pytest.approx(5 / 2)
    d = result.to_dict()
    assert set(d) >= {"samples", "dist_1", "dist_2", "dist_3", "self_bleu", "overlap", "mean_words"}


def test_no_reference_no_overlap():
    result = diversity(["a b c", "d e f"])
    assert result.overlap is None and "overlap" not in result.to_dict()
