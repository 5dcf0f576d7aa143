"""Perplexity per (model side, split) for whatever is open: a trained run, or loaded models on a data directory.

``PerplexityTable`` is what the app's perplexity panel draws, computed here so the app only asks and draws.
With a trained run, ``perplexity_comparison.compare_perplexity`` (what ``tweetsmith eval --compare`` runs) computes
base vs tuned and caches them in RUN/eval.json; without one, the loaded models are scored on the data
directory's splits (nothing cached). ``quick_table`` scores only the first N records of a run's valid split
right after a training: seconds, where the full splits take minutes on a CPU.

Perplexity = exp(mean NLL per predicted token) (``engine.perplexity``): "windowed" in sliding windows over
the records' concatenation, "record" with each record alone after end-of-text, as the chat writes one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tweetsmith.data.records import read_split_lines
from tweetsmith.data.split import SplitDir

from .errors import ConfigError
from .paths import short_path
from .progress import Progress, ProgressFn, counting
from .results import SPLITS, PerplexityComparison
from .run_record import run_data_dir, runs_own_models
from .runs import RunPaths, has_final_model
from .sides import SIDES, Side

if TYPE_CHECKING:
    from .models import LoadedModel
    from .perplexity import PerplexityResult

CONTEXTS = ("windowed", "record")


@dataclass(frozen=True)
class PerplexityTable:
    """Perplexity per (side, split), windowed and per record, and a note saying where the figures come from."""

    values: Mapping[tuple[Side, str], float] = field(default_factory=dict)  # (side, split) -> windowed perplexity
    splits: tuple[str, ...] = SPLITS
    note: str = ""  # where the numbers come from, e.g. "cached in runs/vc/eval.json"
    # (side, split) -> per-record perplexity: each record alone after end-of-text, as the chat writes one
    record_values: Mapping[tuple[Side, str], float] = field(default_factory=dict)

    def get(self, side: Side, split: str, context: str = "windowed") -> float | None:
        return (self.record_values if context == "record" else self.values).get((side, split))

    def change(self, split: str, context: str = "windowed") -> float | None:
        """Tuned vs base, in percent (negative: the tuned model is less surprised)."""
        base, tuned = self.get("base", split, context), self.get("tuned", split, context)
        if base is None or tuned is None or base == 0:
            return None
        return 100.0 * (tuned - base) / base


@dataclass(frozen=True)
class QuickEstimate:
    """``quick_table``'s answer: the table, and the tuned model if it had to load it (the caller may keep it)."""

    table: PerplexityTable
    loaded_tuned: LoadedModel | None = None


def table_from_comparison(comparison: PerplexityComparison, note: str = "") -> PerplexityTable:
    """The table of a run's ``PerplexityComparison`` (its valid and test rows)."""
    values: dict[tuple[Side, str], float] = {
        (side, split): result.perplexity
        for side in SIDES
        for split, result in comparison.side(side).items()
        if split in SPLITS
    }
    record: dict[tuple[Side, str], float] = {
        (side, split): result.perplexity
        for side in SIDES
        for split, result in comparison.side(side, "record").items()
        if split in SPLITS
    }
    return PerplexityTable(values, note=note, record_values=record)


def cached_table(run_dir: str | Path | None) -> PerplexityTable | None:
    """The run's cached comparison while it describes the current final/ model, else None (loads nothing)."""
    from .experiment_cache import cached_comparison

    if run_dir is None:
        return None
    cached = cached_comparison(run_dir)
    if cached is None:
        return None
    return table_from_comparison(cached, note=f"cached in {short_path(RunPaths(Path(run_dir)).eval)}")


def perplexity_table(
    *,
    run_dir: str | Path | None,
    models: Mapping[Side, LoadedModel],
    data_dir: str | Path | None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    precision: str = "auto",
) -> PerplexityTable:
    """Base vs tuned on valid and test: for a trained run ``compare_perplexity`` (cached in RUN/eval.json,
    reusing the ``models`` that are the run's own, loading the others in ``precision``); else each loaded
    model on ``data_dir``'s splits. A cancelled pass leaves its figure out (it scored part of a file only)."""
    from .perplexity import perplexity_of_file
    from .perplexity_comparison import compare_perplexity

    cancel = cancel or threading.Event()
    if run_dir is not None and has_final_model(run_dir):
        own = runs_own_models(run_dir, models)
        comparison = compare_perplexity(
            run_dir,
            base=own.get("base"),
            tuned=own.get("tuned"),
            on_progress=on_progress,
            cancel=cancel,
            precision=precision,
        )
        return table_from_comparison(comparison, note=f"saved to {short_path(RunPaths(Path(run_dir)).eval)}")
    if data_dir is None:
        raise ConfigError("no data directory to evaluate on; start with --data DIR or open a run with /run")
    values: dict[str, dict[tuple[Side, str], float]] = {context: {} for context in CONTEXTS}
    for side, split, context in [
        (side, split, context) for side in SIDES if side in models for split in SPLITS for context in CONTEXTS
    ]:
        if cancel.is_set():
            break
        label = f"{side} · {split}" + (" · alone" if context == "record" else "")
        result = perplexity_of_file(
            models[side],
            SplitDir(data_dir).path(split),
            cancel=cancel,
            context=context,
            on_progress=counting(on_progress, label),
        )
        if cancel.is_set():
            break
        values[context][(side, split)] = result.perplexity
    return PerplexityTable(
        values["windowed"],
        note=f"on {short_path(Path(data_dir))} (not cached: no trained run yet)",
        record_values=values["record"],
    )


def quick_table(
    *,
    run_dir: str | Path,
    models: Mapping[Side, LoadedModel],
    records: int,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    precision: str = "auto",
) -> QuickEstimate:
    """Base vs tuned on the first ``records`` records of the run's valid split, windowed and per record
    (nothing cached): the ``models`` that are the run's own are used, the others loaded in ``precision``."""
    from .models import load_run_model
    from .perplexity import perplexity_of_lines, record_perplexity_of_lines

    scorers: tuple[tuple[Callable[..., PerplexityResult], str], ...] = (
        (perplexity_of_lines, ""),  # windowed
        (record_perplexity_of_lines, " · alone"),  # each record alone
    )
    cancel = cancel or threading.Event()
    lines = read_split_lines(SplitDir(run_data_dir(run_dir)).valid)
    head = lines[:records]
    own = runs_own_models(run_dir, models)
    values: dict[tuple[Side, str], float] = {}
    record_values: dict[tuple[Side, str], float] = {}
    loaded_tuned = None
    for side in SIDES:
        if cancel.is_set():
            break
        loaded = own.get(side)
        if loaded is None:
            if on_progress is not None:
                on_progress(Progress(f"loading the {side} model", 0, 1))
            loaded = load_run_model(run_dir, tuned=(side == "tuned"), precision=precision)
            if side == "tuned":
                loaded_tuned = loaded
        label = f"{side} · valid[:{len(head)}]"
        windowed, alone = (
            score(
                loaded.model,
                loaded.tokenizer,
                head,
                eot_id=loaded.eot_id,
                pad_id=loaded.pad_id,
                cancel=cancel,
                on_progress=counting(on_progress, label + suffix),
            )
            for score, suffix in scorers
        )
        if cancel.is_set():
            break
        values[(side, "valid")] = windowed.perplexity
        record_values[(side, "valid")] = alone.perplexity
    note = f"valid: its first {len(head)} of {len(lines)} records only · ctrl+e: full valid and test"
    return QuickEstimate(
        PerplexityTable(values, splits=("valid",), note=note, record_values=record_values), loaded_tuned
    )
