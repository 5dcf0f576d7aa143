"""Bootstrap intervals of the diversity figures: what they add after ``diversity()``, vectorised against a
loop over draws computing the same figures, in the same run.

Samples are real tweets (the first N lines of the vc_tweets training split, prefix stripped), the
reference is its test split. Times, per sample count:
  diversity     the point figures (``engine.diversity.diversity``: tokenizing, self-BLEU, overlap);
  intervals     ``engine.bootstrap.intervals`` right after it (1,000 draws; per-sample BLEU reused);
  loop          the same 1,000 draws as a Python loop over draws (per-sample numbers precomputed too);
and checks that both give the same bounds. Also the human band (20 sets of N test tweets).

    python bench/bootstrap_speed.py [--sizes 100,1000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "vc_tweets"


def loop_bounds(texts, reference, resamples: int, seed: int = 0):
    """The figures per draw by a plain loop (shares as in engine.bootstrap), then their percentiles."""
    from collections import Counter

    import numpy as np

    from tweetsmith.engine.diversity import ngrams, self_bleu_scores, tokenize, words_of

    tokens = [tokenize(t) for t in texts]
    words = [words_of(t) for t in tokens]
    n = len(texts)

    def shares(items, keep=lambda _: True):
        held = Counter(i for group in items for i in group)
        return ([sum(1 / held[i] for i in g if keep(i)) for g in items], [sum(1 / held[i] for i in g) for g in items])

    per = {}
    for k in (1, 2, 3):
        grams = [ngrams(t, k) for t in tokens]
        per[f"dist_{k}"] = (shares(grams)[1], [len(g) for g in grams])
    bleu = self_bleu_scores(tokens, 4)
    per["overlap"] = ([sum(w in reference.vocab for w in ws) for ws in words], [len(w) for w in words])
    per["overlap_types"] = shares([set(w) for w in words], lambda w: w in reference.vocab)
    per["overlap_bigrams"] = shares([set(ngrams(w, 2)) for w in words], lambda g: g in reference.bigrams)
    figures = {k: [] for k in [*per, "self_bleu", "mean_words"]}
    for row in np.random.default_rng(seed).integers(0, n, size=(resamples, n)):
        for key, (num, den) in per.items():
            d = sum(den[i] for i in row)
            figures[key].append(sum(num[i] for i in row) / d if d else 0.0)
        figures["self_bleu"].append(sum(bleu[i] for i in row) / n)
        figures["mean_words"].append(sum(len(words[i]) for i in row) / n)
    return {k: tuple(np.percentile(v, [2.5, 97.5])) for k, v in figures.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    from tweetsmith.data.records import parse_line, read_split_lines
    from tweetsmith.engine.bootstrap import human_pool_for_split, intervals
    from tweetsmith.engine.diversity import diversity, reference_from_file

    texts = [parse_line(line).text for line in read_split_lines(DATA / "train.txt")]
    reference = reference_from_file(DATA / "test.txt")
    intervals(texts[:3], reference=reference)  # numpy.random's first import, outside the timings
    started = time.perf_counter()
    pool = human_pool_for_split(DATA / "test.txt")
    pool_s = time.perf_counter() - started
    print(f"load average {os.getloadavg()[0]:.1f}; human pool (test split tokenized once): {pool_s:.2f} s")
    print(
        "| samples | diversity s | intervals s (added) | loop s | speed-up | max bound diff | human band s |\n"
        "|---:|---:|---:|---:|---:|---:|---:|"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        sample = texts[:size]
        started = time.perf_counter()
        diversity(sample, reference=reference)
        div_s = time.perf_counter() - started
        started = time.perf_counter()
        ours = intervals(sample, reference=reference, resamples=args.resamples).bounds
        ours_s = time.perf_counter() - started
        started = time.perf_counter()
        theirs = loop_bounds(sample, reference, args.resamples)
        loop_s = time.perf_counter() - started
        diff = max(abs(a - b) for k in theirs for a, b in zip(ours[k], theirs[k]))
        started = time.perf_counter()
        pool.band(size)
        band_s = time.perf_counter() - started
        print(
            f"| {size} | {div_s:.2f} | {ours_s:.3f} | {loop_s:.2f} | {loop_s / ours_s:,.0f}x | {diff:.1e} | {band_s:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
