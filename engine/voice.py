"""Is it really their voice? Attribution and authenticity of samples prompted as an author.

- **Attribution**: the share of samples prompted as an author that the author classifier
  (``voice_model``, fitted on the train split) attributes to that author. Its accuracy on the real test
  tweets is the ceiling, 1/authors is chance. Absent with one author: there is nothing to choose between.
- **Authenticity** (classifier two-sample test, C2ST): a classifier (TF-IDF of character 1-4-grams and
  words, logistic regression) is trained to tell an author's real test tweets from the samples, as many of
  each (drawn seeded); its accuracy in stratified 5-fold cross-validation (every item predicted once, by a
  classifier that did not see it) is the figure. 0.5: it cannot tell them apart; 1.0: always can. Over all
  authors, each author's samples are matched with as many of their own test tweets, so the mix of authors
  tells nothing.

Intervals: 95% bootstrap percentile intervals of the per-item hits (``bootstrap.mean_interval``). For the
two-sample test they hold the classifiers fixed, so they are a little narrow.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from tweetsmith.data.records import read_split
from tweetsmith.data.split import SplitDir

from .bootstrap import DEFAULT_RESAMPLES, mean_interval
from .progress import ProgressFn
from .voice_model import AuthorClassifier, Setting, author_classifier, features, voice_text
from .voice_results import ATTRIBUTION_ABSENT, AuthorVoice, Estimate, VoiceFigures, shown_author

TWO_SAMPLE_FEATURES = Setting((1, 4), (1, 2), 0.0)  # the alpha is unused: the test fits LogisticRegression(C=1)
MIN_PER_CLASS = 5  # fewer real or generated texts than this: no two-sample test (folds of one text say nothing)
FOLDS = 5


def _estimate(hits: Sequence[float], seed: int, resamples: int) -> Estimate | None:
    if not len(hits):
        return None
    interval = mean_interval(hits, resamples=resamples, seed=seed) or (None, None)
    return Estimate(float(sum(hits) / len(hits)), len(hits), *interval)


def _draw(texts: Sequence[str], k: int, rng) -> list[str]:
    """``k`` of ``texts``, drawn without replacement."""
    return [texts[i] for i in sorted(rng.choice(len(texts), size=k, replace=False))]


def two_sample_test(
    real: Sequence[str],
    generated: Sequence[str],
    *,
    seed: int = 0,
    folds: int = FOLDS,
    resamples: int = DEFAULT_RESAMPLES,
) -> Estimate | None:
    """Cross-validated accuracy of a classifier telling ``real`` from ``generated`` texts (as many of each,
    the larger side drawn down, seeded), with its interval; None below ``MIN_PER_CLASS`` texts a side."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    n = min(len(real), len(generated))
    if n < MIN_PER_CLASS:
        return None
    rng = np.random.default_rng(seed)
    texts = [voice_text(t) for t in (*_draw(real, n, rng), *_draw(generated, n, rng))]
    labels = np.array([0] * n + [1] * n)
    splits = StratifiedKFold(n_splits=min(folds, n), shuffle=True, random_state=seed)
    judge = make_pipeline(features(TWO_SAMPLE_FEATURES), LogisticRegression(max_iter=1000))
    predicted = cross_val_predict(judge, texts, labels, cv=splits)
    return _estimate((predicted == labels).astype(float), seed, resamples)


class VoiceJudge:
    """What measuring samples needs from a data directory: the author classifier (None with one author)
    and each author's real test tweets. Built once per data directory (``voice_judge``), used per sample set."""

    def __init__(self, classifier: AuthorClassifier | None, real: Mapping[str, Sequence[str]], authors: Sequence[str]):
        self.classifier, self.real, self.authors = classifier, dict(real), tuple(authors)

    @property
    def note(self) -> str:
        """Why attribution is absent ("" when it is measured)."""
        if self.classifier is not None:
            return ""
        return ATTRIBUTION_ABSENT.format(author=shown_author(self.authors[0]) if self.authors else "no author")

    def measure(
        self,
        authors: Sequence[str],
        texts: Sequence[str],
        *,
        seed: int = 0,
        per_author_test: Collection[str] | None = None,
        resamples: int = DEFAULT_RESAMPLES,
    ) -> VoiceFigures:
        """Attribution and authenticity of ``texts``, sample i prompted as ``authors[i]``, over all and per
        author (the per-author two-sample tests only for ``per_author_test`` when given: the app asks for
        the author on screen)."""
        import numpy as np

        groups: dict[str, list[str]] = {}
        for author, text in zip(authors, texts, strict=True):
            groups.setdefault(author, []).append(text)
        hits, confusion, unknown = self._attribute(authors, texts)
        tests = {
            a: two_sample_test(self.real.get(a, ()), group, seed=seed, resamples=resamples)
            for a, group in groups.items()
            if per_author_test is None or a in per_author_test
        }
        if len(groups) == 1 and tests:
            overall = next(iter(tests.values()))  # one author: the pooled test is that author's test
        else:
            rng = np.random.default_rng(seed)
            real, generated = [], []
            for author, group in groups.items():
                k = min(len(group), len(self.real.get(author, ())))
                real += _draw(self.real.get(author, ()), k, rng)
                generated += _draw(group, k, rng)
            overall = two_sample_test(real, generated, seed=seed, resamples=resamples)
        per_author = {
            a: AuthorVoice(
                samples=len(group),
                attribution=_estimate([h for h, who in hits if who == a], seed, resamples)
                if hits is not None
                else None,
                authenticity=tests.get(a),
            )
            for a, group in groups.items()
        }
        return VoiceFigures(
            samples=len(texts),
            attribution=_estimate([h for h, _ in hits], seed, resamples) if hits is not None else None,
            authenticity=overall,
            per_author=per_author,
            confusion=confusion,
            unknown_authors=unknown,
        )

    def _attribute(self, authors: Sequence[str], texts: Sequence[str]):
        """(hit, author) per attributable sample, the confusion matrix, the prompted authors the classifier
        does not know; (None, None, ()) without a classifier."""
        if self.classifier is None:
            return None, None, ()
        known = self.classifier.authors
        index = {a: i for i, a in enumerate(known)}
        kept = [(a, t) for a, t in zip(authors, texts) if a in index]
        predicted = self.classifier.predict([t for _, t in kept])
        matrix = [[0] * len(known) for _ in known]
        for (author, _), said in zip(kept, predicted):
            matrix[index[author]][index[said]] += 1
        hits = [(float(said == author), author) for (author, _), said in zip(kept, predicted)]
        unknown = tuple(dict.fromkeys(a for a in authors if a not in index))
        return hits, tuple(tuple(row) for row in matrix), unknown


def voice_judge(data_dir: str | Path, *, on_progress: ProgressFn | None = None) -> VoiceJudge:
    """The judge of a data directory: its author classifier (fitted once per split, whatever the sampling
    seed, ``voice_model.author_classifier``) and its test split's tweets by author; authors ordered as in
    train, most frequent first."""
    from collections import Counter

    splits = SplitDir(data_dir)
    counts = Counter(r.author for r in read_split(splits.train))
    real: dict[str, list[str]] = {}
    for record in read_split(splits.test):
        real.setdefault(record.author, []).append(record.text)
    classifier = author_classifier(splits.root, on_progress=on_progress)
    authors = [a for a, _ in counts.most_common() if a or len(counts) == 1]
    return VoiceJudge(classifier, real, authors)
