"""The assignment's sample experiments on a run: base-vs-tuned samples and sampling sweeps.

Each function is what both the CLI and the app call: typed results out (``engine.results``, cached in
the run directory with their ``to_json``), progress as ``Progress`` events, cancellation through a
``threading.Event`` the caller holds (a cancelled experiment raises ``Cancelled`` and caches nothing).

Cached files (paths from ``engine.runs.RunPaths``): ``compare.json`` (overlap and diversity),
``sweep-<param>.json`` (sweeps); samples go to ``samples/*.jsonl``. Perplexity before/after is
``perplexity_comparison`` (``eval.json``); ``experiment_cache`` reads every one of them back. The steps
all experiments share (cancel checks, loading a side's model, the plan of sides, one side's samples:
``side_samples``) live here.
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tweetsmith.data.records import parse_line, read_split_lines
from tweetsmith.data.split import SplitDir

from .bootstrap import DEFAULT_RESAMPLES, LEVEL, HumanBand, human_band_for_split, intervals
from .decode_loop import DECODE_VERSION
from .diversity import Reference, diversity, reference_from_file
from .errors import ConfigError, EngineError
from .generate import DEFAULT_BATCH_SIZE
from .models import load_run_model
from .progress import ProgressFn, counting
from .results import NO_TUNED_NOTE, SampleComparison, SampleFigures, SweepPoint, SweepResult
from .run_record import run_data_dir, runs_own_models
from .runs import RunPaths, final_mtime, has_final_model, write_json_atomic
from .sample_cache import cached_generate_samples
from .sample_record import Sample
from .samples_io import load_samples, save_samples
from .sampling import SamplingConfig
from .sides import SIDES, Side
from .voice import VoiceJudge, voice_judge

SWEEP_PARAMS = ("temperature", "top_k", "top_p", "typical_p", "min_p", "repetition_penalty")
DEFAULT_SWEEP_VALUES = {
    "temperature": (0.5, 0.7, 1.0, 1.2, 1.5),
    "top_k": (5, 20, 50, 200, 0),
    "top_p": (0.5, 0.7, 0.9, 0.95, 1.0),
}


class Cancelled(EngineError):
    """The caller set the cancel event; nothing was cached."""


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


def _load(
    run_dir,
    side: Side,
    loaded: Any | None,
    precision: str | None = None,
    on_notice: Callable[[str], None] | None = None,
):
    """The model passed in, else the run's base or tuned model in ``precision`` (``models.load_model``;
    its decision goes to ``on_notice``)."""
    if loaded is None:
        loaded = load_run_model(run_dir, tuned=(side == "tuned"), precision=precision)
        if on_notice is not None and loaded.info.precision_notice:
            on_notice(loaded.info.precision_notice)
    return loaded


def _release() -> None:
    """Free a model this module loaded before loading the next (callers drop their reference first)."""
    gc.collect()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


# --- samples: authors, base vs tuned ----------------------------------------------------------------


def authors_from_split(path: str | Path, n: int, seed: int = 0) -> list[str]:
    """``n`` authors drawn (with replacement, seeded) from a split's lines, so each author appears as often as in the data."""
    authors = [parse_line(line).author for line in read_split_lines(path)]
    authors = [a for a in authors if a]
    if not authors:
        raise ConfigError(f"{path}: no line has an author prefix (\\author- text); give --author")
    rng = random.Random(seed)
    return [rng.choice(authors) for _ in range(n)]


def _plan(run_dir, data_dir, sides: Sequence[str], given: dict[str, Any]) -> tuple[Path, list[Side]]:
    """The data directory and the sides to run: with a run, base always and tuned once final/ exists;
    without one (the app on a bare model), the sides whose models were passed in."""
    if run_dir is None and data_dir is None:
        raise ConfigError("give a run directory or a data directory (with train.txt and test.txt)")
    data = Path(data_dir) if data_dir is not None else run_data_dir(run_dir)
    if SplitDir(data).missing(("train", "test")):
        raise ConfigError(f"{data}: needs train.txt and test.txt; run `tweetsmith prepare` to make the splits")
    wanted = []
    for side in sides:
        if side not in SIDES:
            raise ConfigError(f"unknown model side {side!r}; use base or tuned")
        if given.get(side) is not None or (run_dir is not None and (side == "base" or has_final_model(run_dir))):
            wanted.append(side)
    if not wanted:
        raise ConfigError("no model to sample: pass base/tuned models or a run directory")
    return data, wanted


@dataclass(frozen=True)
class _Inputs:
    """What a sample experiment draws and measures against, prepared once before any model loads (``of``):
    the data and the sides to run (``_plan``), the prompted authors, the test split's words, the train
    split's memorisation index, the human band (the same figures on random sets of n test tweets) and the
    voice judge."""

    run_dir: str | Path | None
    data: Path
    sides: list[Side]
    n: int
    config: SamplingConfig
    authors: list[str]
    reference: Reference
    train_index: Any  # memorisation.TrainIndex: built once per training file, then cached
    human: HumanBand
    judge: VoiceJudge

    @classmethod
    def of(cls, run_dir, data_dir, sides: Sequence[str], given: dict[str, Any], n: int, config, on_progress):
        from .memorisation import index_for_data

        data, wanted = _plan(run_dir, data_dir, sides, given)
        splits = SplitDir(data)
        reference = reference_from_file(splits.test)
        authors = authors_from_split(splits.train, n, seed=config.seed)
        train_index = index_for_data(data, on_progress=on_progress)
        human = human_band_for_split(splits.test, n, seed=config.seed)
        judge = voice_judge(data, on_progress=on_progress)
        return cls(run_dir, data, wanted, n, config, authors, reference, train_index, human, judge)

    def measure(self, samples: Sequence, *, file: str | None, model: str | None = None) -> SampleFigures:
        """Diversity and overlap, their bootstrap intervals, how many samples are copied from train, and their
        voice (attribution to the prompted author, authenticity)."""
        from .memorisation import copied_share

        texts, seed = [s.text for s in samples], self.config.seed
        matches = self.train_index.match_many(texts)
        voice = self.judge.measure([s.author for s in samples], texts, seed=seed)
        return SampleFigures(
            diversity=diversity(texts, reference=self.reference),
            ci={**intervals(texts, reference=self.reference, seed=seed).bounds, **voice.bounds()},
            copied=copied_share(matches),
            copied_count=sum(m.copied for m in matches),
            longest_span_mean=sum(m.words for m in matches) / len(matches) if matches else None,
            file=file,
            model=model,
            attribution=voice.figure("attribution"),
            authenticity=voice.figure("authenticity"),
        )

    def provenance(self, measured: Mapping[str, object]) -> dict[str, Any]:
        """The fields every sample result shares (``results.SampleProvenance``), ``measured`` its sides."""
        run_dir = self.run_dir
        return {
            "run": str(run_dir) if run_dir else None,
            "n": self.n,
            "config": self.config,
            "reference": str(SplitDir(self.data).test),
            "human": self.human,
            "ci_level": LEVEL,
            "resamples": DEFAULT_RESAMPLES,
            "note": "" if "tuned" in measured else NO_TUNED_NOTE,
            "final_mtime": final_mtime(run_dir) if run_dir is not None else None,
            "created": _now(),
            "decode_version": DECODE_VERSION,
            "voice_classifier": self.judge.classifier.fit if self.judge.classifier is not None else None,
        }


def _draw(loaded, prompts: Sequence[str], config: SamplingConfig, label: str, *, batch_size, cancel, on_progress):
    """``prompts`` sampled through the sample cache, progress counted under ``label``; cancel checked after."""
    samples = cached_generate_samples(
        loaded,
        prompts,
        config,
        batch_size=batch_size,
        cancel=cancel,
        on_progress=counting(on_progress, label, "samples"),
    )
    _check(cancel)
    return samples


def side_samples(
    run_dir,
    side: Side,
    loaded: Any | None,
    prompts: Sequence[str],
    config: SamplingConfig,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cancel: threading.Event | None = None,
    on_progress: ProgressFn | None = None,
    precision: str | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> list[Sample]:
    """One side's samples of ``prompts`` (progress as "<side> samples"): its model ``loaded``, else the run's
    (``_load``), freed here before the next side's loads; cancel checked before loading and after sampling."""
    _check(cancel)
    model = _load(run_dir, side, loaded, precision, on_notice)
    samples = _draw(
        model, prompts, config, f"{side} samples", batch_size=batch_size, cancel=cancel, on_progress=on_progress
    )
    model = None  # noqa: F841 (free it before the next model loads)
    _release()
    return samples


def _save(run_dir, samples, prefix: str) -> str | None:
    """RUN/samples/<prefix>-<digest>.jsonl, named by the samples' content: the same samples (a resumed
    or repeated experiment) get the same file, so a report does not depend on when they were drawn."""
    if run_dir is None:
        return None
    digest = hashlib.sha256(json.dumps([(s.seed, s.prompt, s.text) for s in samples]).encode()).hexdigest()[:12]
    path = RunPaths(Path(run_dir)).samples / f"{prefix}-{digest}.jsonl"
    if path.is_file() and len(load_samples(path)) == len(samples):  # the same samples, saved whole before
        return str(path)
    path.unlink(missing_ok=True)  # a torn earlier save of these very samples: written again whole
    return str(save_samples(samples, path))


def compare_samples(
    run_dir: str | Path | None,
    *,
    n: int = 100,
    config: SamplingConfig = SamplingConfig(),
    batch_size: int = DEFAULT_BATCH_SIZE,
    base: Any | None = None,
    tuned: Any | None = None,
    data_dir: str | Path | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    precision: str | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> SampleComparison:
    """``n`` samples from the base and the tuned model (same authors and seeds), their overlap with the
    test set and their diversity side by side; samples saved to RUN/samples/, the result to RUN/compare.json.

    With ``run_dir=None`` pass the models and ``data_dir``; nothing is saved then.
    """
    config = config.validated()
    given = {"base": base, "tuned": tuned}
    inputs = _Inputs.of(run_dir, data_dir, SIDES, given, n, config, on_progress)
    measured: dict[str, SampleFigures] = {}
    for side in inputs.sides:
        samples = side_samples(
            run_dir,
            side,
            given[side],
            inputs.authors,
            config,
            batch_size=batch_size,
            cancel=cancel,
            on_progress=on_progress,
            precision=precision,
            on_notice=on_notice,
        )
        file = _save(run_dir, samples, f"compare-{side}")
        measured[side] = inputs.measure(samples, file=file, model=samples[0].model if samples else None)
    result = SampleComparison(sides=measured, **inputs.provenance(measured))
    if run_dir is not None:
        write_json_atomic(RunPaths(Path(run_dir)).compare, result.to_json())
    return result


# --- sweeps -----------------------------------------------------------------------------------------


def parse_sweep_values(param: str, values: str | Sequence[float] | None) -> list:
    """Validated values for ``param`` ("0.5,0.7" or a list); the default grid when None."""
    if param not in SWEEP_PARAMS:
        raise ConfigError(f"can't sweep {param!r}; choose one of {', '.join(SWEEP_PARAMS)}")
    if values is None or values == "":
        if param not in DEFAULT_SWEEP_VALUES:
            raise ConfigError(f"give --values for {param}, e.g. --values 1.0,1.2,1.5")
        values = DEFAULT_SWEEP_VALUES[param]
    if isinstance(values, str):
        try:
            values = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ConfigError(f"--values must be numbers separated by commas, got {values!r}") from None
    kind = int if param == "top_k" else float
    parsed = []
    for v in values:
        if kind is int and float(v) != int(float(v)):
            raise ConfigError(f"top_k values must be whole numbers, got {v}")
        value = kind(v)
        SamplingConfig().with_changes(**{param: value})  # raises ConfigError naming the range
        parsed.append(value)
    if not parsed:
        raise ConfigError("--values is empty; give at least one value")
    return parsed


def sweep(
    run_dir: str | Path | None,
    param: str,
    values: str | Sequence[float] | None = None,
    *,
    n: int = 100,
    config: SamplingConfig = SamplingConfig(),
    sides: Sequence[str] = SIDES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    base: Any | None = None,
    tuned: Any | None = None,
    data_dir: str | Path | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    precision: str | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> SweepResult:
    """Diversity and overlap of ``n`` samples per value of ``param``, one curve per model (base, tuned).

    Every point uses the same authors and seeds, so curves differ only by the parameter. Samples go to
    RUN/samples/, the result to RUN/sweep-<param>.json. A run without final/ gets the base curve only.
    With ``run_dir=None`` pass the models (``base``/``tuned``) and ``data_dir``; nothing is saved then.
    """
    values = parse_sweep_values(param, values)
    config = config.validated()
    given = {"base": base, "tuned": tuned}
    inputs = _Inputs.of(run_dir, data_dir, sides, given, n, config, on_progress)
    curves: dict[str, tuple[SweepPoint, ...]] = {}
    for side in inputs.sides:
        _check(cancel)
        loaded = _load(run_dir, side, given[side], precision, on_notice)
        curve = []
        for index, value in enumerate(values):
            point_config = config.with_changes(**{param: value})
            label = f"{side} · {param}={value:g} ({index + 1}/{len(values)})"
            samples = _draw(
                loaded,
                inputs.authors,
                point_config,
                label,
                batch_size=batch_size,
                cancel=cancel,
                on_progress=on_progress,
            )
            file = _save(run_dir, samples, f"sweep-{param}-{value:g}-{side}")
            curve.append(SweepPoint(value, inputs.measure(samples, file=file)))
        curves[side] = tuple(curve)
        loaded = None  # noqa: F841 (free it before the next model loads)
        _release()
    result = SweepResult(param=param, values=tuple(values), curves=curves, **inputs.provenance(curves))
    if run_dir is not None:
        write_json_atomic(RunPaths(Path(run_dir)).sweep(param), result.to_json())
    return result


def sweep_open(
    *,
    run_dir: str | Path | None,
    models: Mapping[Side, Any],
    side: Side,
    data_dir: str | Path | None,
    param: str,
    values: Sequence[float] | None,
    n: int,
    config: SamplingConfig,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    precision: str | None = None,
) -> SweepResult:
    """``sweep`` on what the app has open: a trained run (both curves, cached in the run, reusing the loaded
    models that are the run's own), else the loaded ``side`` model alone on ``data_dir`` (nothing saved)."""
    if run_dir is not None and has_final_model(run_dir):
        own = runs_own_models(run_dir, models)
        return sweep(
            run_dir,
            param,
            values,
            n=n,
            config=config,
            base=own.get("base"),
            tuned=own.get("tuned"),
            on_progress=on_progress,
            cancel=cancel,
            precision=precision,
        )
    if data_dir is None or not SplitDir(data_dir).test.is_file():
        raise ConfigError("a sweep needs data with train.txt and test.txt; start with --data DIR or open a run")
    if models.get(side) is None:
        raise ConfigError("no model loaded yet; try again when the header shows one")
    return sweep(
        None,
        param,
        values,
        n=n,
        config=config,
        sides=(side,),
        data_dir=data_dir,
        **{side: models[side]},
        on_progress=on_progress,
        cancel=cancel,
    )
