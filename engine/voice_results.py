"""What the voice measures return: frozen, typed results with ``to_json``/``from_json`` (their caches).

``voice_model.author_classifier`` gives a ``ClassifierFit`` (the settings tried, the ceiling on real
test tweets), ``voice.VoiceJudge.measure`` a ``VoiceFigures`` for one set of samples (one model), and
``voice_run.run_voice`` a ``VoiceResult`` (RUN/voice.json): N samples per author from base and tuned.
Kept apart from ``voice.py`` so that ``results.py`` can hold these without importing scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from .bootstrap import DEFAULT_RESAMPLES, LEVEL
from .sampling import SamplingConfig

ATTRIBUTION_ABSENT = (
    "attribution needs two or more authors and this data has one ({author}): a classifier with one "
    "class attributes every text to it, so only authenticity is measured"
)


def shown_author(author: str) -> str:
    """``@paulg``, or ``(no author)`` for records without the prefix."""
    return f"@{author}" if author else "(no author)"


def shown_share(value: float | None, interval: tuple[float, float] | None = None) -> str:
    """``0.71 [0.62-0.80]`` (``–`` for no figure)."""
    if value is None:
        return "–"
    return f"{value:.2f}" + (f" [{interval[0]:.2f}-{interval[1]:.2f}]" if interval else "")


@dataclass(frozen=True)
class Estimate:
    """A share of ``n`` items (attributed right, told apart right) with its 95% bootstrap interval
    (``low``/``high`` None below two items)."""

    value: float
    n: int
    low: float | None = None
    high: float | None = None

    @property
    def interval(self) -> tuple[float, float] | None:
        return (self.low, self.high) if self.low is not None and self.high is not None else None

    def shown(self) -> str:
        """``0.71 [0.62-0.80]``: the figure and its interval, as tables show it."""
        return shown_share(self.value, self.interval)

    def to_json(self) -> dict:
        return {"value": self.value, "n": self.n, "ci": list(self.interval) if self.interval else None}

    @overload
    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Estimate: ...
    @overload
    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> Estimate | None: ...
    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> Estimate | None:
        """An estimate read back; None for a figure that was not measured (saved as null)."""
        if d is None:
            return None
        ci = d.get("ci")
        return cls(
            value=float(d["value"]), n=int(d["n"]), low=float(ci[0]) if ci else None, high=float(ci[1]) if ci else None
        )


def _estimate_json(e: Estimate | None) -> dict | None:
    return e.to_json() if e is not None else None


@dataclass(frozen=True)
class SettingScore:
    """One classifier setting tried, and its accuracy on the valid split."""

    settings: str
    valid_accuracy: float


@dataclass(frozen=True)
class ClassifierFit:
    """The author classifier chosen on the valid split, and how well it attributes real test tweets (the
    ceiling: a model's samples can hardly be attributed better than its author's own tweets)."""

    key: str  # the cache key: split contents, settings grid, scikit-learn version
    authors: tuple[str, ...]  # the classes, in the classifier's order (the confusion matrix's too)
    settings: str  # the chosen setting
    tried: tuple[SettingScore, ...]
    test_accuracy: Estimate  # share of real test tweets attributed to their author: the ceiling
    test_balanced: float  # the same averaged over authors (compare N-per-author samples with this)
    test_recall: Mapping[str, float]  # author -> share of their test tweets attributed to them
    records: Mapping[str, int]  # split -> records used (those with an author the classifier knows)
    sklearn: str
    fit_seconds: float

    @property
    def chance(self) -> float:
        return 1.0 / len(self.authors)

    @property
    def valid_accuracy(self) -> float | None:
        chosen = [s.valid_accuracy for s in self.tried if s.settings == self.settings]
        return chosen[0] if chosen else None

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "authors": list(self.authors),
            "settings": self.settings,
            "tried": [{"settings": s.settings, "valid_accuracy": s.valid_accuracy} for s in self.tried],
            "valid_accuracy": self.valid_accuracy,
            "test_accuracy": self.test_accuracy.to_json(),
            "test_balanced": self.test_balanced,
            "test_recall": dict(self.test_recall),
            "chance": self.chance,
            "records": dict(self.records),
            "sklearn": self.sklearn,
            "fit_seconds": self.fit_seconds,
        }

    @overload
    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ClassifierFit: ...
    @overload
    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> ClassifierFit | None: ...
    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> ClassifierFit | None:
        """A fit read back; None where a result had no classifier (one author: saved as null)."""
        if d is None:
            return None
        return cls(
            key=d["key"],
            authors=tuple(d["authors"]),
            settings=d["settings"],
            tried=tuple(SettingScore(t["settings"], float(t["valid_accuracy"])) for t in d["tried"]),
            test_accuracy=Estimate.from_json(d["test_accuracy"]),
            test_balanced=float(d["test_balanced"]),
            test_recall={k: float(v) for k, v in d["test_recall"].items()},
            records=dict(d["records"]),
            sklearn=d["sklearn"],
            fit_seconds=float(d["fit_seconds"]),
        )


@dataclass(frozen=True)
class AuthorVoice:
    """One prompted author's samples: the share attributed to them, and the two-sample test against their
    real test tweets (None where there are too few)."""

    samples: int
    attribution: Estimate | None
    authenticity: Estimate | None

    def to_json(self) -> dict:
        return {
            "samples": self.samples,
            "attribution": _estimate_json(self.attribution),
            "authenticity": _estimate_json(self.authenticity),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AuthorVoice:
        return cls(
            samples=int(d["samples"]),
            attribution=Estimate.from_json(d.get("attribution")),
            authenticity=Estimate.from_json(d.get("authenticity")),
        )


@dataclass(frozen=True)
class VoiceFigures:
    """Attribution and authenticity of one set of samples (one model), over all of them and per author.

    ``attribution``: the share of samples the classifier attributes to their prompted author (None with one
    author). ``authenticity``: the cross-validated accuracy of a classifier telling the samples from as many
    real test tweets of the same authors (0.5: it cannot tell them apart)."""

    samples: int
    attribution: Estimate | None
    authenticity: Estimate | None
    per_author: Mapping[str, AuthorVoice]
    confusion: tuple[tuple[int, ...], ...] | None = None  # [prompted][attributed], in ClassifierFit.authors order
    unknown_authors: tuple[str, ...] = ()  # prompted authors the classifier was not trained on (not attributed)
    file: str | None = None  # where the samples were saved
    plot: str | None = None  # the confusion matrix's PNG

    def figure(self, name: str) -> float | None:
        estimate = getattr(self, name)
        return estimate.value if estimate is not None else None

    def bounds(self) -> dict[str, tuple[float, float]]:
        """The intervals, named as ``SampleFigures.ci`` names figures."""
        return {
            name: getattr(self, name).interval
            for name in ("attribution", "authenticity")
            if getattr(self, name) is not None and getattr(self, name).interval is not None
        }

    def to_json(self) -> dict:
        return {
            "samples": self.samples,
            "attribution": _estimate_json(self.attribution),
            "authenticity": _estimate_json(self.authenticity),
            "per_author": {a: v.to_json() for a, v in self.per_author.items()},
            "confusion": [list(row) for row in self.confusion] if self.confusion is not None else None,
            "unknown_authors": list(self.unknown_authors),
            "file": self.file,
            "plot": self.plot,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> VoiceFigures:
        confusion = d.get("confusion")
        return cls(
            samples=int(d["samples"]),
            attribution=Estimate.from_json(d.get("attribution")),
            authenticity=Estimate.from_json(d.get("authenticity")),
            per_author={a: AuthorVoice.from_json(v) for a, v in d["per_author"].items()},
            confusion=tuple(tuple(int(x) for x in row) for row in confusion) if confusion is not None else None,
            unknown_authors=tuple(d.get("unknown_authors", ())),
            file=d.get("file"),
            plot=d.get("plot"),
        )


@dataclass(frozen=True)
class VoiceResult:
    """``per_author`` samples for every author of the run's data, from base and tuned (RUN/voice.json)."""

    run: str | None
    data: str
    per_author: int  # samples per author and model
    config: SamplingConfig
    authors: tuple[str, ...]  # the prompted authors, most frequent in train first
    classifier: ClassifierFit | None  # None with one author (``note`` says why)
    sides: Mapping[str, VoiceFigures]
    note: str = ""  # why attribution is absent, that the tuned model is missing
    key: str = ""  # what the figures depend on besides the models (see ``voice_run``)
    ci_level: float = LEVEL
    resamples: int = DEFAULT_RESAMPLES
    final_mtime: float | None = None  # as in results.SampleComparison
    created: str = ""
    decode_version: int = 0
    plots: Mapping[str, str] = field(default_factory=dict)  # side -> confusion matrix PNG

    def to_json(self) -> dict:
        return {
            "run": self.run,
            "data": self.data,
            "per_author": self.per_author,
            "config": self.config.to_dict(),
            "authors": list(self.authors),
            "classifier": self.classifier.to_json() if self.classifier is not None else None,
            "sides": {s: f.to_json() for s, f in self.sides.items()},
            "note": self.note,
            "key": self.key,
            "ci_level": self.ci_level,
            "resamples": self.resamples,
            "final_mtime": self.final_mtime,
            "created": self.created,
            "decode_version": self.decode_version,
            "plots": dict(self.plots),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> VoiceResult:
        return cls(
            run=d.get("run"),
            data=d["data"],
            per_author=int(d["per_author"]),
            config=SamplingConfig.from_dict(d["config"]),
            authors=tuple(d["authors"]),
            classifier=ClassifierFit.from_json(d.get("classifier")),
            sides={s: VoiceFigures.from_json(f) for s, f in d["sides"].items()},
            note=d.get("note", ""),
            key=d.get("key", ""),
            ci_level=d.get("ci_level", LEVEL),
            resamples=d.get("resamples", DEFAULT_RESAMPLES),
            final_mtime=d.get("final_mtime"),
            created=d.get("created", ""),
            decode_version=int(d.get("decode_version", 0)),
            plots=dict(d.get("plots", {})),
        )
