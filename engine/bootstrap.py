"""Bootstrap 95% intervals of the diversity figures, and the "human band" they are judged against.

Intervals: ``resamples`` (1,000) draws of the samples with replacement, all from
``numpy.random.default_rng(seed).integers(0, S, size=(resamples, S))`` (a test can redo them), and
the 2.5th and 97.5th percentiles (numpy's default, linear) of each figure over the draws.

Every figure is written as a ratio of sums of per-sample numbers, and a draw sums them with its
multiplicities (one matrix product for all draws):

- dist-n: each sample's share of the distinct n-grams (an n-gram occurring k times in all samples counts
  1/k at each occurrence, so the shares add up to the distinct count) over its n-gram count. Resampling
  the texts themselves would be wrong here: ~37% of every draw are repeats, whose n-grams are never new,
  and dist-1 of 1,000 tweets (0.259) got an "interval" of 0.182-0.195 that excludes it;
- self-BLEU: the mean of the drawn samples' own BLEU scores, each computed once against all the other
  samples (recomputing per draw would take minutes, and a repeat would find itself among its references);
- overlap: word tokens in the reference vocabulary / word tokens; for word types and word-bigram types,
  each sample's share of the distinct types (a type held by k samples counts 1/k in each) in the
  reference / its share of all of them; mean words per sample.

With every sample drawn once, each figure is exactly its point value.

The human band: the same figures for ``repeats`` random subsets of the test split, each of as many
tweets as the model produced (seeded, without replacement), their overlap measured against the rest
of the test split (a tweet is always in its own split's vocabulary). The band is the 2.5th-97.5th
percentile of each figure over the subsets; a model figure is "within", "above" or "below" it.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from .diversity import DEFAULT_BLEU_N, Reference, diversity, figure_key, ngrams, self_bleu_scores, tokenize, words_of

DEFAULT_RESAMPLES = 1000
DEFAULT_REPEATS = 20
LEVEL = 0.95


def metric_keys(with_overlap: bool = True) -> list[str]:
    """The figures that get an interval, named as in ``DiversityResult.to_dict``."""
    keys = ["dist_1", "dist_2", "dist_3", "self_bleu", "mean_words"]
    return keys + (["overlap", "overlap_types", "overlap_bigrams"] if with_overlap else [])


def draws(samples: int, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """The sample indices of each draw, shape (resamples, samples)."""
    return np.random.default_rng(seed).integers(0, samples, size=(resamples, samples))


def _counts(indices: np.ndarray, samples: int) -> np.ndarray:
    """How often each sample is in each draw, shape (resamples, samples)."""
    rows = indices.shape[0]
    flat = (np.arange(rows)[:, None] * samples + indices).ravel()
    return np.bincount(flat, minlength=rows * samples).reshape(rows, samples)


def _shares(per_sample: Sequence[Collection[Hashable]], weight=None) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's share of the distinct items of all samples: an item held k times in all counts 1/k
    at each holding, so the shares sum to the number of distinct items. Returns (shares of the items
    with ``weight(item)`` true, shares of all items), one value per sample."""
    from collections import Counter
    from itertools import chain

    share = {item: 1.0 / k for item, k in Counter(chain.from_iterable(per_sample)).items()}
    every = np.array([sum(map(share.__getitem__, items)) for items in per_sample], dtype=np.float64)
    if weight is None:
        return np.zeros(len(per_sample)), every
    kept = {item: v for item, v in share.items() if weight(item)}
    inside = np.array([sum(kept.get(item, 0.0) for item in items) for items in per_sample], dtype=np.float64)
    return inside, every


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def replicates(
    texts: Sequence[str],
    *,
    reference: Reference | None = None,
    bleu_n: int = DEFAULT_BLEU_N,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    indices: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Each figure of each draw (see the module docstring), keyed like ``DiversityResult.to_dict``."""
    token_lists = [tokenize(t) for t in texts]
    word_lists = [words_of(t) for t in token_lists]
    n = len(texts)
    if n == 0:
        return {}
    # Per-sample numbers, one column each; every draw sums them with its multiplicities in one product.
    columns: dict[str, np.ndarray] = {}
    for order in (1, 2, 3):
        grams = [ngrams(tokens, order) for tokens in token_lists]
        columns[f"unique_{order}"] = _shares(grams)[1]
        columns[f"total_{order}"] = np.array([len(g) for g in grams], dtype=np.float64)
    scores = self_bleu_scores(token_lists, bleu_n)
    if scores is not None:
        columns["bleu"] = np.array(scores, dtype=np.float64)
    columns["words"] = np.array([len(w) for w in word_lists], dtype=np.float64)
    if reference is not None:
        columns["hits"] = np.array([sum(w in reference.vocab for w in ws) for ws in word_lists], dtype=np.float64)
        columns["types_in"], columns["types"] = _shares([set(ws) for ws in word_lists], reference.vocab.__contains__)
        columns["bigrams_in"], columns["bigrams"] = _shares(
            [set(ngrams(ws, 2)) for ws in word_lists], reference.bigrams.__contains__
        )
    names = list(columns)
    indices = draws(n, resamples, seed) if indices is None else indices
    summed = _counts(indices, n).astype(np.float64) @ np.stack([columns[k] for k in names], axis=1)
    sums = {name: summed[:, i] for i, name in enumerate(names)}
    out = {f"dist_{k}": _ratio(sums[f"unique_{k}"], sums[f"total_{k}"]) for k in (1, 2, 3)}
    if "bleu" in sums:
        out["self_bleu"] = sums["bleu"] / n
    out["mean_words"] = sums["words"] / n
    if reference is not None:
        out["overlap"] = _ratio(sums["hits"], sums["words"])
        out["overlap_types"] = _ratio(sums["types_in"], sums["types"])
        out["overlap_bigrams"] = _ratio(sums["bigrams_in"], sums["bigrams"])
    return out


@dataclass(frozen=True)
class Intervals:
    """95% bootstrap intervals of the diversity figures: ``bounds[key] = (low, high)``."""

    bounds: dict
    resamples: int
    seed: int
    level: float = LEVEL

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "resamples": self.resamples,
            "seed": self.seed,
            "bounds": {k: [lo, hi] for k, (lo, hi) in self.bounds.items()},
        }


def intervals(
    texts: Sequence[str],
    *,
    reference: Reference | None = None,
    bleu_n: int = DEFAULT_BLEU_N,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Intervals:
    """Percentile intervals (2.5th-97.5th) of every figure over ``resamples`` seeded draws."""
    reps = replicates(texts, reference=reference, bleu_n=bleu_n, resamples=resamples, seed=seed)
    tail = 100 * (1 - LEVEL) / 2
    bounds = {k: tuple(float(x) for x in np.percentile(v, [tail, 100 - tail])) for k, v in reps.items()}
    return Intervals(bounds=bounds, resamples=resamples, seed=seed)


def mean_interval(
    values: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """The 95% percentile interval of the mean of per-item values over seeded draws of the items (a share's
    interval when the values are 0/1: attribution, a two-sample test's accuracy); None below two items."""
    column = np.asarray(values, dtype=np.float64)
    n = len(column)
    if n < 2:
        return None
    means = _counts(draws(n, resamples, seed), n).astype(np.float64) @ column / n
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


# --- the human band ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HumanBand:
    """The figures of ``repeats`` random sets of ``n`` test tweets: ``bounds[key] = (low, high)``, ``means[key]``."""

    n: int
    repeats: int
    seed: int
    bounds: dict
    means: dict
    source: str = "test"

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "repeats": self.repeats,
            "seed": self.seed,
            "source": self.source,
            "bounds": {k: [lo, hi] for k, (lo, hi) in self.bounds.items()},
            "means": dict(self.means),
        }

    @classmethod
    def from_dict(cls, d: dict) -> HumanBand:
        return cls(
            n=int(d["n"]),
            repeats=int(d["repeats"]),
            seed=int(d["seed"]),
            source=d.get("source", "test"),
            bounds={figure_key(k): (float(v[0]), float(v[1])) for k, v in d["bounds"].items()},
            means={figure_key(k): v for k, v in d.get("means", {}).items()},
        )


def verdict(value: float | None, bounds: tuple[float, float] | None) -> str | None:
    """ "within", "above" or "below" the human band (None when either is missing)."""
    if value is None or bounds is None:
        return None
    low, high = bounds
    return "below" if value < low else "above" if value > high else "within"


class HumanPool:
    """Test tweets ready to draw human bands from: tokenized once, with each word's and bigram's line count
    (so "the rest of the split" is a subtraction, not a re-tokenization)."""

    def __init__(self, texts: Sequence[str], source: str = "test"):
        self.texts, self.source = list(texts), source
        words = [words_of(tokenize(t)) for t in self.texts]
        self.line_vocab = [set(w) for w in words]
        self.line_bigrams = [set(ngrams(w, 2)) for w in words]
        self.vocab_df: dict[str, int] = {}
        self.bigram_df: dict[tuple, int] = {}
        for vocab, bigrams in zip(self.line_vocab, self.line_bigrams):
            for w in vocab:
                self.vocab_df[w] = self.vocab_df.get(w, 0) + 1
            for g in bigrams:
                self.bigram_df[g] = self.bigram_df.get(g, 0) + 1

    def _rest(self, chosen) -> Reference:
        held_vocab, held_bigrams = dict(self.vocab_df), dict(self.bigram_df)
        for i in chosen:
            for w in self.line_vocab[i]:
                held_vocab[w] -= 1
            for g in self.line_bigrams[i]:
                held_bigrams[g] -= 1
        return Reference(
            name=f"rest of {self.source}",
            lines=len(self.texts) - len(chosen),
            vocab=frozenset(w for w, c in held_vocab.items() if c > 0),
            bigrams=frozenset(g for g, c in held_bigrams.items() if c > 0),
        )

    def band(self, n: int, *, repeats: int = DEFAULT_REPEATS, seed: int = 0, bleu_n: int = DEFAULT_BLEU_N) -> HumanBand:
        """The band of each figure over ``repeats`` random subsets of ``n`` texts (all of them when fewer)."""
        rng = np.random.default_rng(seed)
        size = min(n, len(self.texts))
        rows: dict[str, list[float]] = {}
        for _ in range(repeats):
            chosen = rng.choice(len(self.texts), size=size, replace=False)
            result = diversity([self.texts[i] for i in chosen], reference=self._rest(chosen), bleu_n=bleu_n).to_dict()
            for key in metric_keys():
                value = result.get(key)
                if isinstance(value, (int, float)):  # None: not measured on this subset
                    rows.setdefault(key, []).append(float(value))
        tail = 100 * (1 - LEVEL) / 2
        bounds = {k: tuple(float(x) for x in np.percentile(v, [tail, 100 - tail])) for k, v in rows.items()}
        means = {k: float(np.mean(v)) for k, v in rows.items()}
        return HumanBand(n=size, repeats=repeats, seed=seed, bounds=bounds, means=means, source=self.source)


def human_band(
    texts: Sequence[str],
    n: int,
    *,
    repeats: int = DEFAULT_REPEATS,
    seed: int = 0,
    bleu_n: int = DEFAULT_BLEU_N,
    source: str = "test",
) -> HumanBand:
    """The band of each figure over ``repeats`` random subsets of ``n`` of ``texts`` (the test tweets, no prefix).

    Overlap of a subset is measured against the vocabulary of the other texts. With fewer texts than
    ``n`` every subset is all of them (the band then has no width)."""
    return HumanPool(texts, source).band(n, repeats=repeats, seed=seed, bleu_n=bleu_n)


def human_pool_for_split(path) -> HumanPool:
    from tweetsmith.data.records import parse_line, read_split_lines

    return HumanPool([parse_line(line).text for line in read_split_lines(path)], source=str(path))


def human_band_for_split(path, n: int, **kwargs) -> HumanBand:
    """``human_band`` of a split file in line format (the ``\\author- `` prefix dropped)."""
    return human_pool_for_split(path).band(n, **kwargs)
