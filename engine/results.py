"""What the experiments return: frozen, typed results, each with ``to_json``/``from_json`` for its cache.

``perplexity_comparison.compare_perplexity`` returns a ``PerplexityComparison`` (cached as RUN/eval.json),
``compare_samples`` a ``SampleComparison`` (RUN/compare.json) and ``sweep`` a ``SweepResult``
(RUN/sweep-<param>.json); ``memorisation.summarize`` a ``MemorisationSummary``. The CLI, the report, the plots and the app read the fields; none of them
guesses a dict's shape. The JSON keeps the layout the caches had before these types, so older cache
files still load (self-BLEU stored as ``self_bleu_<n>`` included; see ``diversity.figure_key``).

Figures of a set of samples are named as in ``DiversityResult`` (``dist_1``, ``self_bleu``, ``overlap``,
...) plus ``copied``; ``SampleFigures.figure(name)`` and ``.interval(name)`` look them up by name, which
is what tables and plots with one row per figure need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tweetsmith.data.split import Split

from .bootstrap import DEFAULT_RESAMPLES, LEVEL, HumanBand
from .diversity import DiversityResult, figure_key
from .perplexity import PerplexityResult
from .sampling import SamplingConfig
from .sides import Side
from .voice_results import ClassifierFit

if TYPE_CHECKING:
    from .memorisation import SpanMatch

SPLITS: tuple[Split, ...] = ("valid", "test")
NO_TUNED_NOTE = "no tuned model (no final/ yet): base only"

Bounds = Mapping[str, tuple[float, float]]  # figure name -> (low, high)


def _bounds_from_json(raw: Mapping[str, Any] | None) -> dict[str, tuple[float, float]]:
    return {figure_key(k): (float(v[0]), float(v[1])) for k, v in (raw or {}).items()}


def _bounds_to_json(bounds: Bounds) -> dict[str, list[float]]:
    return {k: [lo, hi] for k, (lo, hi) in bounds.items()}


# --- perplexity before/after ------------------------------------------------------------------------


@dataclass(frozen=True)
class PerplexityChange:
    """Tuned against base on one split: ``perplexity`` = tuned - base, ``percent`` = 100 * (tuned / base - 1)."""

    perplexity: float
    percent: float


@dataclass(frozen=True)
class PerplexityComparison:
    """Perplexity of a run's base and tuned model on its valid and test splits (RUN/eval.json)."""

    run: str
    model: str | None  # the base model's spec, from the run's config.json
    data: str  # the split directory scored
    stride_tokens: int  # the sliding window's stride actually used (capped at the model's window)
    base: Mapping[str, PerplexityResult]  # split -> result
    tuned: Mapping[str, PerplexityResult]
    final_mtime: float | None = None  # final/'s newest file when this was computed: a retrained model makes it stale
    created: str = ""
    max_tokens: int = 0  # > 0: each split's leading records within this many tokens were scored; 0: all of it
    # The per-record ("cold") figures of the same records: each alone after end-of-text, as the chat writes
    base_record: Mapping[str, PerplexityResult] = field(default_factory=dict)
    tuned_record: Mapping[str, PerplexityResult] = field(default_factory=dict)

    def side(self, side: Side, context: str = "windowed") -> Mapping[str, PerplexityResult]:
        if context == "record":
            return self.base_record if side == "base" else self.tuned_record
        return self.base if side == "base" else self.tuned

    def change(self, split: str, context: str = "windowed") -> PerplexityChange:
        base, tuned = self.side("base", context)[split].perplexity, self.side("tuned", context)[split].perplexity
        return PerplexityChange(perplexity=tuned - base, percent=100.0 * (tuned / base - 1.0))

    def to_json(self) -> dict:
        return {
            "run": self.run,
            "model": self.model,
            "data": self.data,
            "stride_tokens": self.stride_tokens,
            "base": {split: r.to_dict() for split, r in self.base.items()},
            "tuned": {split: r.to_dict() for split, r in self.tuned.items()},
            # Derived, written for people reading eval.json; from_json recomputes it.
            "change": {split: self.change(split).__dict__ for split in self.base if split in self.tuned},
            "final_mtime": self.final_mtime,
            "created": self.created,
            "max_tokens": self.max_tokens,
            "record": {
                "base": {split: r.to_dict() for split, r in self.base_record.items()},
                "tuned": {split: r.to_dict() for split, r in self.tuned_record.items()},
            },
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PerplexityComparison:
        """Read back; an eval.json from before per-record figures existed lacks ``record`` (KeyError: the
        caller treats it as no cache and computes it again, the windowed figures then coming from their cache)."""
        return cls(
            run=d["run"],
            model=d.get("model"),
            data=d.get("data", ""),
            stride_tokens=int(d["stride_tokens"]),
            base={s: PerplexityResult.from_dict(r) for s, r in d["base"].items()},
            tuned={s: PerplexityResult.from_dict(r) for s, r in d["tuned"].items()},
            final_mtime=d.get("final_mtime"),
            created=d.get("created", ""),
            max_tokens=int(d.get("max_tokens", 0)),
            base_record={s: PerplexityResult.from_dict(r) for s, r in d["record"]["base"].items()},
            tuned_record={s: PerplexityResult.from_dict(r) for s, r in d["record"]["tuned"].items()},
        )


# --- figures of a set of samples --------------------------------------------------------------------


@dataclass(frozen=True)
class SampleFigures:
    """Diversity and overlap of one set of generated samples, their 95% bootstrap intervals and how many
    of the samples are copied from the train split."""

    diversity: DiversityResult
    ci: Bounds = field(default_factory=dict)  # figure name -> 95% bootstrap interval
    copied: float | None = None  # share of samples sharing an 8+ word span with a training record
    copied_count: int = 0
    longest_span_mean: float | None = None  # words, mean over samples of the longest span shared with train
    file: str | None = None  # where the samples were saved (None when nothing was saved)
    model: str | None = None  # the model that wrote them
    # Voice (engine.voice): share attributed to the prompted author (None with one author), and the accuracy
    # of a classifier telling the samples from the authors' test tweets (0.5: it cannot); intervals in ``ci``
    attribution: float | None = None
    authenticity: float | None = None

    OWN = ("copied", "copied_count", "longest_span_mean", "attribution", "authenticity")

    def figure(self, name: str) -> float | None:
        """A figure by name: a ``DiversityResult`` field (``dist_1``, ``self_bleu``, ``overlap``, ...) or ``copied``."""
        name = figure_key(name)
        if name in self.OWN:
            return getattr(self, name)
        if name in DiversityResult.__dataclass_fields__:
            return getattr(self.diversity, name)
        raise KeyError(f"no figure named {name!r}")

    def interval(self, name: str) -> tuple[float, float] | None:
        return self.ci.get(figure_key(name))

    def to_json(self) -> dict:
        return {
            **self.diversity.to_dict(),
            "ci": _bounds_to_json(self.ci),
            "copied": self.copied,
            "copied_count": self.copied_count,
            "longest_span_mean": self.longest_span_mean,
            "file": self.file,
            "model": self.model,
            "attribution": self.attribution,
            "authenticity": self.authenticity,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SampleFigures:
        return cls(
            diversity=DiversityResult.from_dict(dict(d)),
            ci=_bounds_from_json(d.get("ci")),
            copied=d.get("copied"),
            copied_count=int(d.get("copied_count", 0)),
            longest_span_mean=d.get("longest_span_mean"),
            file=d.get("file"),
            model=d.get("model"),
            attribution=d.get("attribution"),
            authenticity=d.get("authenticity"),
        )


@dataclass(frozen=True, kw_only=True)
class SampleProvenance:
    """What a sample experiment's figures come from, the part ``SampleComparison`` and ``SweepResult`` share:
    the run, the samples drawn (how many, with which settings), what they are measured against, and what
    tells a cache whether it still holds (``final_mtime``, ``decode_version``). Its ``_json`` and
    ``_read`` are the only writer and reader of those keys in RUN/compare.json and RUN/sweep-<param>.json."""

    run: str | None
    n: int  # samples per model (and per sweep point)
    config: SamplingConfig  # every sampling setting (a sweep's other settings, the same at every point)
    reference: str  # the test split overlap is measured against
    human: HumanBand | None  # the same figures on random sets of n test tweets
    ci_level: float = LEVEL
    resamples: int = DEFAULT_RESAMPLES
    note: str = ""  # e.g. that the tuned model is missing
    final_mtime: float | None = None  # final/'s newest file when this was computed: a retrained model makes it stale
    created: str = ""
    decode_version: int = 0  # engine.decode_loop.DECODE_VERSION of its samples (0: written before it was kept)
    voice_classifier: ClassifierFit | None = None  # the author classifier behind ``attribution`` (its ceiling, chance)

    def _json(self, head: Mapping[str, Any], figures: Mapping[str, Any]) -> dict:
        """The file's layout: the run, ``head`` (what a kind adds up front), the samples and their measures,
        ``figures``, then when and by what the figures were made (``note`` and the classifier when present)."""
        out = {
            "run": self.run,
            **head,
            "n": self.n,
            "config": self.config.to_dict(),
            "reference": self.reference,
            "ci_level": self.ci_level,
            "resamples": self.resamples,
            "human": self.human.to_dict() if self.human else None,
            **figures,
            "final_mtime": self.final_mtime,
            "created": self.created,
            "decode_version": self.decode_version,
        }
        if self.note:
            out["note"] = self.note
        if self.voice_classifier is not None:
            out["voice_classifier"] = self.voice_classifier.to_json()
        return out

    @staticmethod
    def _read(d: Mapping[str, Any]) -> dict[str, Any]:
        """The shared fields of a file ``_json`` wrote (older files lack the later keys: their defaults)."""
        return {
            "run": d.get("run"),
            "n": int(d["n"]),
            "config": SamplingConfig.from_dict(d["config"]),
            "reference": d["reference"],
            "human": HumanBand.from_dict(d["human"]) if d.get("human") else None,
            "ci_level": d.get("ci_level", LEVEL),
            "resamples": d.get("resamples", DEFAULT_RESAMPLES),
            "note": d.get("note", ""),
            "final_mtime": d.get("final_mtime"),
            "created": d.get("created", ""),
            "decode_version": int(d.get("decode_version", 0)),
            "voice_classifier": ClassifierFit.from_json(d.get("voice_classifier")),
        }


@dataclass(frozen=True, kw_only=True)
class SampleComparison(SampleProvenance):
    """``n`` samples from each model (same authors and seeds), measured side by side (RUN/compare.json)."""

    sides: Mapping[str, SampleFigures]  # "base", and "tuned" once the run has final/

    def to_json(self) -> dict:
        return self._json({}, {"sides": {side: figures.to_json() for side, figures in self.sides.items()}})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SampleComparison:
        return cls(**cls._read(d), sides={side: SampleFigures.from_json(v) for side, v in d["sides"].items()})


# --- sweeps -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepPoint:
    """The figures of the samples drawn at one value of the swept parameter."""

    value: float
    figures: SampleFigures

    def to_json(self) -> dict:
        return {"value": self.value, **self.figures.to_json()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SweepPoint:
        return cls(value=d["value"], figures=SampleFigures.from_json(d))


@dataclass(frozen=True, kw_only=True)
class SweepResult(SampleProvenance):
    """Figures against one sampling parameter, a curve per model (RUN/sweep-<param>.json); ``n`` samples a point."""

    param: str  # "temperature", "top_k", ...
    values: tuple[float, ...]
    curves: Mapping[str, tuple[SweepPoint, ...]]  # side -> one point per value, in ``values`` order

    @property
    def bleu_n(self) -> int:
        """The order of the self-BLEU figures (the same at every point)."""
        for points in self.curves.values():
            for point in points:
                return point.figures.diversity.self_bleu_n
        return 4

    def to_json(self) -> dict:
        curves = {side: [p.to_json() for p in points] for side, points in self.curves.items()}
        return self._json({"param": self.param, "values": list(self.values)}, {"curves": curves})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SweepResult:
        curves = {side: tuple(SweepPoint.from_json(p) for p in points) for side, points in d["curves"].items()}
        return cls(**cls._read(d), param=d["param"], values=tuple(d["values"]), curves=curves)


# --- memorisation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemorisationSummary:
    """How much a set of samples copies from the train split (``memorisation.summarize``)."""

    samples: int
    copied: int  # samples that are copied (an 8+ word span, or all of a shorter sample)
    copied_share: float | None  # copied / samples (None for no samples)
    copy_span_words: int  # the span length that makes a copy
    span_mean: float | None  # longest shared span per sample, in words: mean, median, max
    span_median: float | None
    span_max: int | None
    histogram: Mapping[int, int]  # longest span in words -> samples
    worst: tuple[tuple[int, SpanMatch], ...]  # (sample index, its match), longest spans first

    def to_json(self) -> dict:
        return {
            "samples": self.samples,
            "copied": self.copied,
            "copied_share": self.copied_share,
            "copy_span_words": self.copy_span_words,
            "longest_span": {
                "mean": self.span_mean,
                "median": self.span_median,
                "max": self.span_max,
                "histogram": {str(k): v for k, v in self.histogram.items()},
            },
            "worst": [{"sample": i, **match.to_dict()} for i, match in self.worst],
        }


# --- runs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """One run as ``tweetsmith runs`` lists it (``card.list_runs``): from its card, else config.json and metrics."""

    run: str
    model: str | None
    data: str | None
    method: str | None
    steps: int | None  # optimizer steps done (the last logged step for a run without a card)
    best_valid_perplexity: float | None
    status: str | None  # "running", "completed", "stopped", or "no card" for runs older than cards
    when: str | None  # when it ended, else when it started (ISO time)
    max_steps: int | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)
