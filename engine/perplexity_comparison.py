"""Perplexity before and after training: the base and the tuned model on the run's valid and test splits.

The assignment's first figure, apart from the sample experiments (``experiments``) because it scores
text rather than drawing samples: every split is scored windowed (``COMPARE_STRIDE_TOKENS``) and each
record alone, through the perplexity cache, and the comparison is cached as RUN/eval.json
(``experiment_cache.cached_comparison`` reads it back).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tweetsmith.data.split import SplitDir

from .errors import ModelError
from .experiments import _check, _load, _now, _release
from .progress import ProgressFn, counting
from .results import SPLITS, PerplexityComparison
from .run_record import RunRecord, run_data_dir
from .runs import RunPaths, final_mtime, has_final_model, write_json_atomic
from .sides import Side

COMPARE_STRIDE_TOKENS = 512  # perplexity before/after: windows overlap by this stride (the cache key holds it)


def compare_perplexity(
    run_dir: str | Path,
    *,
    base: Any | None = None,
    tuned: Any | None = None,
    stride_tokens: int = COMPARE_STRIDE_TOKENS,
    max_tokens: int = 0,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    precision: str | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> PerplexityComparison:
    """Perplexity of the base and the tuned model on the run's valid and test splits; saved to RUN/eval.json.

    ``max_tokens`` > 0 scores each split's leading records that fit in that many tokens (a bounded pass
    over a big split). Pass already-loaded models as ``base`` / ``tuned`` to skip loading them; the others
    load in ``precision`` (None: fp32 on a CPU; the CLI and the app pass "auto").
    """
    from .perplexity import max_len_for
    from .perplexity_cache import cached_perplexity_of_file

    data = run_data_dir(run_dir)
    splits = SplitDir(data)
    if not has_final_model(run_dir) and tuned is None:
        raise ModelError(
            f"{run_dir}: no final/ model yet; finish training first (or evaluate the base with `tweetsmith eval`)"
        )
    results: dict[str, dict] = {}
    stride = stride_tokens
    models: tuple[tuple[Side, Any | None], ...] = (("base", base), ("tuned", tuned))
    for side, given in models:
        _check(cancel)
        loaded = _load(run_dir, side, given, precision, on_notice)
        # A model with a context shorter than the stride is scored in non-overlapping windows.
        stride = min(stride_tokens, max_len_for(loaded.model))
        results[side], results[f"{side}_record"] = {}, {}
        for split in SPLITS:
            # The base model's figures are the same for every run on this data: computed once, then cached.
            results[side][split], _ = cached_perplexity_of_file(
                loaded,
                splits.path(split),
                stride_tokens=stride,
                max_tokens=max_tokens,
                cancel=cancel,
                on_progress=counting(on_progress, f"{side} · {split}", "windows"),
            )
            _check(cancel)
            results[f"{side}_record"][split], _ = cached_perplexity_of_file(
                loaded,
                splits.path(split),
                max_tokens=max_tokens,
                cancel=cancel,
                context="record",
                on_progress=counting(on_progress, f"{side} · {split} · per record", "batches"),
            )
            _check(cancel)
        loaded = None  # noqa: F841 (free it before the next model loads)
        _release()
    comparison = PerplexityComparison(
        run=str(run_dir),
        model=RunRecord.read(run_dir).model,
        data=str(data),
        stride_tokens=stride,
        max_tokens=max_tokens,
        base=results["base"],
        tuned=results["tuned"],
        final_mtime=final_mtime(run_dir),
        created=_now(),
        base_record=results["base_record"],
        tuned_record=results["tuned_record"],
    )
    write_json_atomic(RunPaths(Path(run_dir)).eval, comparison.to_json())
    return comparison
