"""The assignment's ablation stage: train each variant of ``ablation.variants`` for the same short budget,
score every one and the untuned model on the same leading valid records, write DIR/ablation/ablation.json.

Apart from the pipeline (``assignment``) because it is a small pipeline of its own: several trainings, each
through the pipeline's keyed and resumable training stage (``train_run``), their scorings through the
perplexity cache, its own ETA (``ablation_work``: what is left to train and to score). The baseline is not
trained again when the main run already is it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .ablation import (
    ABLATION_EVAL_TOKENS,
    ABLATION_SAMPLES,
    AblationResult,
    AblationRow,
    count_sample_problems,
    median_tokens_per_s,
    variants,
)
from .assignment_progress import StageProgress
from .experiments import Cancelled
from .perplexity_comparison import COMPARE_STRIDE_TOKENS
from .progress import Progress
from .runs import read_metrics, write_json_atomic
from .train_config import TrainConfig, training_settings

if TYPE_CHECKING:
    from .assignment import _Pipeline
    from .perplexity import PerplexityResult


def ablation_work(train: TrainConfig, steps: int) -> tuple[int, int]:
    """(optimizer steps to train, valid passes to score) in the ablation stage: every variant but the one the
    main run (``train``) already is, then every variant's row and the untuned model's (none when ``steps`` is 0)."""
    if steps <= 0:
        return 0, 0
    rows = variants(train, steps)
    main = training_settings(train)
    trained = [v for v in rows if training_settings(v.config) != main]
    return len(trained) * steps, len(rows) + 1


def score_valid(
    loaded, valid: Path, label: str, progress: StageProgress, cancel: threading.Event | None
) -> tuple[PerplexityResult, PerplexityResult, bool]:
    """(windowed, each record alone, both cached?) on the valid split's leading ``ABLATION_EVAL_TOKENS`` tokens."""
    from .perplexity_cache import cached_perplexity_of_file
    from .progress import counting

    results = []
    for context, unit in (("windowed", "windows"), ("record", "records")):
        result, hit = cached_perplexity_of_file(
            loaded,
            valid,
            stride_tokens=COMPARE_STRIDE_TOKENS,
            max_tokens=ABLATION_EVAL_TOKENS,
            context=context,
            cancel=cancel,
            on_progress=counting(progress.engine_progress, f"{label} · valid {context}", unit),
        )
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        results.append((result, hit))
    return results[0][0], results[1][0], results[0][1] and results[1][1]


def run_ablation(pipeline: _Pipeline) -> tuple[AblationResult, bool]:
    """Train each variant (the baseline is the main run itself when it has the same settings), score all on
    the same valid records, write DIR/ablation/ablation.json: (the result, whether every part was cached)."""
    from .models import load_model, load_run_model

    config, paths, record, progress, cancel = (
        pipeline.config,
        pipeline.paths,
        pipeline.record,
        pipeline.progress,
        pipeline.cancel,
    )
    valid = paths.splits.valid
    main_key, rows, cached = record.key("train"), [], True
    steps_left, scorings_left = ablation_work(config.train, config.ablation_steps)
    for variant in variants(config.train, config.ablation_steps):
        stage = f"ablation {variant.name}"
        run_dir = paths.ablation / variant.name
        pipeline.training_label = f"{variant.name} · "
        if pipeline.train_key(dataclasses.replace(variant.config, data=str(paths.data))) == main_key:
            run_dir, seconds = paths.run, record.stages["train"].seconds  # the main run is this variant
        else:
            steps_left -= config.ablation_steps
            progress.ablation_rest_s = pipeline.eta.ablation(steps_left, scorings_left)
            began = time.monotonic()
            key, hit = pipeline.train_run(stage, variant.config, run_dir)
            entry = record.finished(stage, time.monotonic() - began, key=key, cached=hit)
            seconds, cached = entry.seconds, cached and hit
        scorings_left -= 1
        progress.ablation_rest_s = pipeline.eta.ablation(steps_left, scorings_left)
        progress.engine_progress(Progress(f"loading {variant.name}", 0, None))
        tuned = load_run_model(run_dir, tuned=True, precision=config.train.precision)
        result, per_record, hit = score_valid(tuned, valid, variant.name, progress, cancel)
        progress.engine_progress(Progress(f"{variant.name} · {ABLATION_SAMPLES} samples", 0, None))
        drawn, with_problem = count_sample_problems(tuned, paths.data, pipeline.sampling, cancel=cancel)
        cached = cached and hit
        rows.append(
            AblationRow(
                variant.name,
                variant.change,
                result.perplexity,
                median_tokens_per_s(read_metrics(run_dir)),
                seconds,
                record_perplexity=per_record.perplexity,
                samples=drawn,
                with_problem=with_problem,
            )
        )
    pipeline.training_label, progress.ablation_rest_s = "", 0.0
    base, base_record, hit = score_valid(
        load_model(config.train.model, allow_fallback=config.train.allow_fallback, precision=config.train.precision),
        valid,
        "untuned",
        progress,
        cancel,
    )
    ablation = AblationResult(
        steps=config.ablation_steps,
        seed=config.train.seed,
        records=base.records,
        tokens=base.tokens,
        base_perplexity=base.perplexity,
        rows=tuple(rows),
        base_record_perplexity=base_record.perplexity,
    )
    write_json_atomic(paths.ablation / "ablation.json", ablation.to_json())
    return ablation, cached and hit
