"""Voice measures: fitting the author classifier and scoring samples, ours against a baseline in the same run.

Rows (seconds, wall):
  fit, 12 authors     the assignment's train split (vc_tweets, ~9.6k tweets), the chosen setting (char 1-4 +
                      word 1-2 TF-IDF): ours, logistic regression by SGD, against scikit-learn's default
                      ``LogisticRegression`` (lbfgs) on the same features; both with their valid accuracy
  grid, 12 authors    ``voice_model.fit_author_classifier`` with the whole grid (every setting fitted on train,
                      scored on valid, the best scored on test): what the first ``tweetsmith voice`` costs
  fit, 100k           100,000 synthetic tweets (12 authors, words drawn from each real author's word
                      frequencies), the chosen setting, ours against lbfgs (``--no-baseline-100k`` skips lbfgs)
  score 1,000         attribution of 1,000 samples: one batched ``predict`` against one call per sample (what
                      a panel that scored each sample alone would pay)
  two-sample 1,000    the classifier two-sample test of 1,000 samples against 1,000 real tweets (5 folds)

    python bench/voice_speed.py [--data ../shared/data/vc_tweets] [--synthetic 100000] [--no-baseline-100k]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "vc_tweets"


def timed(fn):
    began = time.perf_counter()
    value = fn()
    return time.perf_counter() - began, value


def synthetic(records, count: int, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` (author, text) pairs: each author's words drawn from their real word frequencies, 6-24 words."""
    rng = random.Random(seed)
    words = {}
    for r in records:
        words.setdefault(r.author, Counter()).update(r.text.split())
    pools = {a: (list(c), list(c.values())) for a, c in words.items() if a}
    authors = sorted(pools)
    out = []
    for i in range(count):
        author = authors[i % len(authors)]
        vocabulary, weights = pools[author]
        out.append((author, " ".join(rng.choices(vocabulary, weights, k=rng.randint(6, 24)))))
    return out


def fit_pair(x_train, y_train, x_valid, y_valid, baseline: bool):
    """(ours seconds, ours valid accuracy, baseline seconds or None, baseline accuracy or None)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from tweetsmith.engine.voice_model import GRID, _model, features

    chosen = next(s for s in GRID if s.char == (1, 4) and s.alpha == 1e-5)
    vectors = features(chosen)
    vector_s, train = timed(lambda: vectors.fit_transform(x_train))
    valid = vectors.transform(x_valid)
    ours_s, ours = timed(lambda: _model(chosen.alpha, 0).fit(train, y_train))
    ours_acc = float(np.mean(ours.predict(valid) == np.array(y_valid)))
    if not baseline:
        return vector_s + ours_s, ours_acc, None, None
    base_s, base = timed(lambda: LogisticRegression(class_weight="balanced", max_iter=1000).fit(train, y_train))
    return vector_s + ours_s, ours_acc, vector_s + base_s, float(np.mean(base.predict(valid) == np.array(y_valid)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--no-baseline-100k", action="store_true", help="skip lbfgs on the synthetic tweets")
    args = parser.parse_args()

    from tweetsmith.data.records import read_split
    from tweetsmith.engine.voice import two_sample_test
    from tweetsmith.engine.voice_model import fit_author_classifier, voice_text

    if not (args.data / "train.txt").is_file():
        print(f"no train.txt in {args.data}; pass --data DIR with train/valid/test.txt", file=sys.stderr)
        return 2
    splits = {s: read_split(args.data / f"{s}.txt") for s in ("train", "valid", "test")}
    pairs = {s: [(voice_text(r.text), r.author) for r in records if r.author] for s, records in splits.items()}
    rows = []

    def row(name, ours, baseline=None, note=""):
        ratio = f"{baseline / ours:.1f}x" if baseline else "–"
        rows.append((name, f"{ours:.1f}", f"{baseline:.1f}" if baseline else "–", ratio, note))

    x, y = zip(*pairs["train"])
    xv, yv = zip(*pairs["valid"])
    ours_s, ours_acc, base_s, base_acc = fit_pair(list(x), list(y), list(xv), list(yv), baseline=True)
    row(
        f"fit, {len(set(y))} authors ({len(x):,} tweets)",
        ours_s,
        base_s,
        f"valid accuracy {ours_acc:.3f} (SGD) vs {base_acc:.3f} (lbfgs)",
    )
    grid_s, classifier = timed(lambda: fit_author_classifier(splits["train"], splits["valid"], splits["test"]))
    fit = classifier.fit
    row(
        f"grid, {len(fit.tried)} settings",
        grid_s,
        None,
        f"chose {fit.settings}: valid {fit.valid_accuracy:.3f}, test {fit.test_accuracy.value:.3f}",
    )

    fake = synthetic(splits["train"], args.synthetic)
    fake_valid = synthetic(splits["train"], 5_000, seed=1)
    ours_s, ours_acc, base_s, base_acc = fit_pair(
        [t for _, t in fake],
        [a for a, _ in fake],
        [t for _, t in fake_valid],
        [a for a, _ in fake_valid],
        baseline=not args.no_baseline_100k,
    )
    row(
        f"fit, {len(fake):,} synthetic tweets",
        ours_s,
        base_s,
        f"valid accuracy {ours_acc:.3f}" + (f" vs {base_acc:.3f}" if base_acc is not None else ""),
    )

    samples = [t for t, _ in pairs["test"][:1000]]
    batched_s, together = timed(lambda: classifier.predict(samples))
    alone_s, apart = timed(lambda: [classifier.predict([t])[0] for t in samples])
    assert together == apart, "batched and one-at-a-time attribution differ"
    row(f"score {len(samples):,} samples", batched_s, alone_s, "batched predict vs one call per sample; same labels")
    real = [t for t, _ in pairs["valid"][:1000]]
    test_s, result = timed(lambda: two_sample_test(real, samples, seed=0))
    row(
        f"two-sample test {len(samples):,} vs {len(real):,}",
        test_s,
        None,
        f"accuracy {result.value:.3f} (real vs real)",
    )

    widths = [max(len(str(r[i])) for r in [("workload", "ours s", "baseline s", "ratio", "")] + rows) for i in range(5)]
    header = ("workload", "ours s", "baseline s", "ratio", "")
    for r in [header, tuple("-" * w for w in widths[:4]) + ("",), *rows]:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}  {r[4]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
