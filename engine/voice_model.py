"""The author classifier: who wrote this tweet? Fitted on the train split, chosen on valid, judged on test.

Features: TF-IDF of character n-grams within words (``char_wb``: spelling, punctuation, emoji, casing
habits) and, in most settings, of words and word pairs (``@mentions`` and ``#hashtags`` kept whole). The
model: logistic regression (log-loss) fitted by stochastic gradient descent (scikit-learn's
``SGDClassifier(loss="log_loss")``), with classes weighted by their inverse frequency. On the
assignment's 12-author train split SGD reached the valid accuracy of the lbfgs solver (0.722 vs 0.717)
in 1 s instead of 10-60 s, which is what makes a grid of settings and a 100k-tweet split affordable
(``bench/voice_speed.py``). Balanced weights because voice samples come N per author: a classifier that
leans to frequent authors would under-attribute the rare ones' samples.

Every setting of ``GRID`` is fitted on train and the one with the best valid accuracy is kept; its
accuracy on the real test tweets is the ceiling. Texts lose the ``\\author- `` prefix first (it would name
the author) and have their white space folded (every line of the assignment's files ends with a space,
which samples lack: a cue that says nothing about voice).

The fitted classifier is kept in ``$TWEETSMITH_CACHE/voice/<key>.joblib`` (and in memory), the key a sha256
over the three splits' bytes, the grid, the seed, ``VOICE_VERSION`` and the scikit-learn version: fitted
once per split, by whichever command or app asks first.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tweetsmith.data.records import Record, parse_line, read_split
from tweetsmith.data.split import SPLIT_NAMES, SplitDir

from .progress import Progress, ProgressFn
from .voice_results import ClassifierFit, Estimate, SettingScore

VOICE_VERSION = 1  # bump when a change to the features, the model or the text cleaning changes a figure
WORD_TOKENS = r"(?u)[@#]?\w+"  # words, with @mentions and #hashtags kept whole


@dataclass(frozen=True)
class Setting:
    """One point of the grid: character n-grams (within words), optional word n-grams, the L2 penalty."""

    char: tuple[int, int]
    word: tuple[int, int] | None
    alpha: float  # SGD's regularisation strength (smaller: less regularised)

    @property
    def label(self) -> str:
        words = f" + word {self.word[0]}-{self.word[1]}" if self.word else ""
        return f"char {self.char[0]}-{self.char[1]}{words}, alpha {self.alpha:g}"


GRID = tuple(
    Setting(char, word, alpha)
    for char, word in (((1, 3), (1, 1)), ((1, 4), (1, 2)), ((2, 5), (1, 2)), ((2, 5), None))
    for alpha in (1e-5, 3e-5)
)


def voice_text(text: str) -> str:
    """What the classifiers see of a record or a sample: no ``\\author- `` prefix, white space folded."""
    return " ".join(parse_line(text).text.split())


def features(setting: Setting):
    """The TF-IDF features of ``setting`` (a scikit-learn transformer, not fitted)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=setting.char, sublinear_tf=True, min_df=2)
    if setting.word is None:
        return chars
    return make_union(
        chars, TfidfVectorizer(analyzer="word", ngram_range=setting.word, sublinear_tf=True, token_pattern=WORD_TOKENS)
    )


def _model(alpha: float, seed: int):
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(
        loss="log_loss", alpha=alpha, class_weight="balanced", random_state=seed, max_iter=50, tol=1e-4
    )


class AuthorClassifier:
    """A fitted author classifier (a scikit-learn pipeline) and what its fit found (``fit``)."""

    def __init__(self, pipeline, fit: ClassifierFit):
        self.pipeline, self.fit = pipeline, fit

    @property
    def authors(self) -> tuple[str, ...]:
        return self.fit.authors

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The author each text is attributed to (texts cleaned with ``voice_text`` here)."""
        if not texts:
            return []
        return [str(a) for a in self.pipeline.predict([voice_text(t) for t in texts])]


def _labelled(records: Iterable[Record], known: set[str] | None = None) -> tuple[list[str], list[str]]:
    pairs = [(voice_text(r.text), r.author) for r in records if r.author and (known is None or r.author in known)]
    return [t for t, _ in pairs], [a for _, a in pairs]


def fit_author_classifier(
    train: Sequence[Record],
    valid: Sequence[Record],
    test: Sequence[Record],
    *,
    grid: Sequence[Setting] = GRID,
    seed: int = 0,
    key: str = "",
    on_progress: ProgressFn | None = None,
) -> AuthorClassifier:
    """Fit every setting of ``grid`` on ``train``, keep the best on ``valid`` (the first setting when
    ``valid`` has no record of a known author), and measure it on ``test``. Needs two authors or more."""
    import numpy as np
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline

    from .bootstrap import mean_interval

    began = time.perf_counter()
    x_train, y_train = _labelled(train)
    authors = tuple(sorted(set(y_train)))
    if len(authors) < 2:
        raise ValueError(f"an author classifier needs two authors or more, got {len(authors)}")
    known = set(authors)
    x_valid, y_valid = _labelled(valid, known)
    x_test, y_test = _labelled(test, known)
    tried: list[SettingScore] = []
    best: tuple[float, Setting, object, object] | None = None  # (valid accuracy, setting, sklearn's vectorizer, model)
    by_features: dict[tuple, list[Setting]] = {}
    for setting in grid:
        by_features.setdefault((setting.char, setting.word), []).append(setting)
    done = 0
    for settings in by_features.values():  # vectorise once per feature set, then fit each penalty on it
        vectors = features(settings[0]).fit(x_train)
        train_matrix = vectors.transform(x_train)
        valid_matrix = vectors.transform(x_valid) if x_valid else None
        for setting in settings:
            with warnings.catch_warnings():
                # SGD's own stopping test is often unmet on small splits after max_iter epochs; what counts is
                # the valid accuracy each setting reaches, which picks the setting.
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = _model(setting.alpha, seed).fit(train_matrix, y_train)
            accuracy = float(np.mean(model.predict(valid_matrix) == np.array(y_valid))) if x_valid else 0.0
            tried.append(SettingScore(setting.label, accuracy))
            if best is None or accuracy > best[0]:
                best = (accuracy, setting, vectors, model)
            done += 1
            if on_progress:
                on_progress(Progress("fitting the author classifier", done, len(grid), "settings"))
    assert best is not None  # the grid has a setting at least: every setting is scored above
    _, setting, vectors, model = best
    pipeline = make_pipeline(vectors, model)
    predicted = np.array(pipeline.predict(x_test)) if x_test else np.array([])
    truth = np.array(y_test)
    hits = (predicted == truth).astype(float)
    recall = {a: float(hits[truth == a].mean()) for a in authors if (truth == a).any()}
    interval = mean_interval(hits, seed=seed)
    fit = ClassifierFit(
        key=key,
        authors=authors,
        settings=setting.label,
        tried=tuple(tried),
        test_accuracy=Estimate(float(hits.mean()) if len(hits) else 0.0, len(hits), *(interval or (None, None))),
        test_balanced=float(np.mean(list(recall.values()))) if recall else 0.0,
        test_recall=recall,
        records={"train": len(x_train), "valid": len(x_valid), "test": len(x_test)},
        sklearn=sklearn.__version__,
        fit_seconds=time.perf_counter() - began,
    )
    return AuthorClassifier(pipeline, fit)


# --- fitted once per split -------------------------------------------------------------------------

_lock = threading.Lock()
_fitted: dict[str, AuthorClassifier] = {}  # by cache file: fitted or read once per process


def classifier_key(data_dir: Path, grid: Sequence[Setting], seed: int) -> str:
    """sha256 over the splits' bytes, the grid, the seed and the versions the figures depend on."""
    import sklearn

    from .card import file_sha256
    from .paths import home

    parts = [f"v{VOICE_VERSION}", f"sklearn={sklearn.__version__}", f"seed={seed}", *(s.label for s in grid)]
    splits = SplitDir(data_dir)
    for split in SPLIT_NAMES:
        path = splits.path(split)
        parts.append(f"{split}={file_sha256(path, home() / 'hashes.json') if path.is_file() else 'missing'}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def author_classifier(
    data_dir: str | Path, *, grid: Sequence[Setting] = GRID, seed: int = 0, on_progress: ProgressFn | None = None
) -> AuthorClassifier | None:
    """The classifier of ``data_dir``'s splits: from memory, else the cache file, else fitted and stored.
    None when train has fewer than two authors (attribution then has nothing to choose between)."""
    import joblib

    from .paths import cache_dir

    splits = SplitDir(data_dir)
    train = read_split(splits.train)  # DataError naming the fix for a missing split
    if len({r.author for r in train if r.author}) < 2:
        return None
    key = classifier_key(splits.root, grid, seed)
    stored = cache_dir("voice") / f"{key}.joblib"
    with _lock:  # two workers asking at once: the first fits, the second waits for it
        if str(stored) in _fitted:
            return _fitted[str(stored)]
        found = None
        if stored.is_file():
            try:
                payload = joblib.load(stored)
                found = AuthorClassifier(payload["pipeline"], ClassifierFit.from_json(payload["fit"]))
            except Exception:  # noqa: BLE001 (a torn or foreign file: fitted again and replaced)
                found = None
        if found is None:
            held_out = {s: read_split(splits.path(s)) if splits.path(s).is_file() else [] for s in ("valid", "test")}
            found = fit_author_classifier(
                train, held_out["valid"], held_out["test"], grid=grid, seed=seed, key=key, on_progress=on_progress
            )
            _store(stored, {"pipeline": found.pipeline, "fit": found.fit.to_json()})
        _fitted[str(stored)] = found
        return found


def _store(path: Path, payload: dict) -> None:
    """joblib.dump to a temp file, then rename: a kill never leaves half a classifier; a cache that cannot
    be written costs a refit next time, nothing else."""
    import joblib

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            joblib.dump(payload, tmp)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError:
        pass
