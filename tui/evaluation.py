"""The numbers the perplexity panel shows, and how the app gets them (engine calls only).

``PerplexityTable`` is the panel's plain model: perplexity per (side, split). With a run directory the
engine's ``experiments.compare_perplexity`` computes base vs tuned and caches them in ``RUN/eval.json``
(shown at once next time); without a run the loaded base model is scored with ``perplexity_of_file``.
Right after a training, ``quick_table`` scores only the first N records of valid (seconds, where the
full splits take minutes on a CPU); its table has the valid row alone and a note that says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from tweetsmith.data.split import SplitDir
from tweetsmith.engine.sides import SIDES, Side

from .display import short_path

if TYPE_CHECKING:
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.progress import Progress
    from tweetsmith.engine.results import PerplexityComparison, SweepResult
    from tweetsmith.engine.sampling import SamplingConfig

SPLITS = ("valid", "test")


@dataclass(frozen=True)
class PerplexityTable:
    values: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (side, split) -> windowed perplexity
    splits: tuple[str, ...] = SPLITS
    note: str = ""  # where the numbers come from, e.g. "cached in runs/vc/eval.json"
    # (side, split) -> per-record perplexity: each record alone after end-of-text, as the chat writes one
    record_values: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def get(self, side: Side, split: str, context: str = "windowed") -> float | None:
        return (self.record_values if context == "record" else self.values).get((side, split))

    def change(self, split: str, context: str = "windowed") -> float | None:
        """Tuned vs base, in percent (negative: the tuned model is less surprised)."""
        base, tuned = self.get("base", split, context), self.get("tuned", split, context)
        if base is None or tuned is None or base == 0:
            return None
        return 100.0 * (tuned - base) / base


def table_from_comparison(comparison: PerplexityComparison, note: str = "") -> PerplexityTable:
    """The panel's table from the engine's ``PerplexityComparison``."""
    values = {(side, split): result.perplexity
              for side in SIDES for split, result in comparison.side(side).items() if split in SPLITS}
    record = {(side, split): result.perplexity
              for side in SIDES for split, result in comparison.side(side, "record").items() if split in SPLITS}
    return PerplexityTable(values, note=note, record_values=record)


def cached_table(run_dir: Path | None) -> PerplexityTable | None:
    """The run's cached comparison, if the engine has one (no model is loaded)."""
    if run_dir is None:
        return None
    from tweetsmith.engine.experiments import cached_comparison
    from tweetsmith.engine.runs import RunPaths

    cached = cached_comparison(run_dir)
    if cached is None:
        return None
    return table_from_comparison(cached, note=f"cached in {short_path(RunPaths(Path(run_dir)).eval)}")


def compute_table(
    *,
    run_dir: Path | None,
    models: Mapping[str, LoadedModel],
    data_dir: Path | None,
    on_progress: Callable[[str, int, int], None],
    cancel: threading.Event,
    precision: str = "auto",
) -> PerplexityTable:
    """Base vs tuned for a run (cached by the engine), else the loaded models on ``data_dir``'s splits; a
    model the app does not hold loads in ``precision``."""
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.perplexity import perplexity_of_file

    if run_dir is not None:
        from tweetsmith.engine.experiments import compare_perplexity
        from tweetsmith.engine.run_record import RunRecord
        from tweetsmith.engine.runs import RunPaths, has_final_model

        if has_final_model(run_dir):
            # Reuse the models the app holds when they are the run's (else the engine loads them).
            base = models.get("base")
            if base is not None and base.info.spec != RunRecord.read(run_dir).model:
                base = None
            comparison = compare_perplexity(run_dir, base=base, tuned=models.get("tuned"),
                                            on_progress=_relay(on_progress), cancel=cancel, precision=precision)
            return table_from_comparison(comparison, note=f"saved to {short_path(RunPaths(Path(run_dir)).eval)}")

    if data_dir is None:
        raise ConfigError("no data directory to evaluate on; start with --data DIR or open a run with /run")
    values: dict[str, dict[tuple[str, str], float]] = {"windowed": {}, "record": {}}
    jobs = [(side, split, context) for side in SIDES if side in models for split in SPLITS for context in values]
    for side, split, context in jobs:
        if cancel.is_set():
            break
        label = f"{side} · {split}" + (" · alone" if context == "record" else "")
        result = perplexity_of_file(
            models[side], SplitDir(data_dir).path(split), cancel=cancel, context=context,
            on_progress=lambda done, total, label=label: on_progress(label, done, total),
        )
        if cancel.is_set():
            break  # a cancelled pass scored only part of the file: not its perplexity
        values[context][(side, split)] = result.perplexity
    return PerplexityTable(values["windowed"], note=f"on {short_path(Path(data_dir))} (not cached: no trained run yet)",
                           record_values=values["record"])


def quick_table(
    *,
    run_dir: Path,
    models: Mapping[str, LoadedModel],
    records: int,
    on_progress: Callable[[str, int, int], None],
    cancel: threading.Event,
    precision: str = "auto",
) -> tuple[PerplexityTable, LoadedModel | None]:
    """Base vs tuned on the first ``records`` records of the run's valid split (nothing cached).

    Uses the models the app holds when they are the run's and loads the others; returns the table and
    the tuned model if it loaded it (else None), so the app can keep it for ctrl+b.
    """
    from tweetsmith.data.records import read_split_lines
    from tweetsmith.engine.models import load_run_model
    from tweetsmith.engine.perplexity import perplexity_of_lines
    from tweetsmith.engine.perplexity import record_perplexity_of_lines
    from tweetsmith.engine.run_record import RunRecord, run_data_dir

    lines = read_split_lines(SplitDir(run_data_dir(run_dir)).valid)
    head = lines[:records]
    given = dict(models)
    base = given.get("base")
    if base is not None and base.info.spec != RunRecord.read(run_dir).model:
        given.pop("base")
    values: dict[tuple[str, str], float] = {}
    record_values: dict[tuple[str, str], float] = {}
    loaded_tuned = None
    for side in SIDES:
        if cancel.is_set():
            break
        loaded = given.get(side)
        if loaded is None:
            on_progress(f"loading the {side} model", 0, 1)
            loaded = load_run_model(run_dir, tuned=(side == "tuned"), precision=precision)
            if side == "tuned":
                loaded_tuned = loaded
        label = f"{side} · valid[:{len(head)}]"
        result = perplexity_of_lines(
            loaded.model, loaded.tokenizer, head, eot_id=loaded.eot_id, pad_id=loaded.pad_id, cancel=cancel,
            on_progress=lambda done, total, label=label: on_progress(label, done, total),
        )
        alone = record_perplexity_of_lines(
            loaded.model, loaded.tokenizer, head, eot_id=loaded.eot_id, pad_id=loaded.pad_id, cancel=cancel,
            on_progress=lambda done, total, label=label: on_progress(f"{label} · alone", done, total),
        )
        if cancel.is_set():
            break
        values[(side, "valid")] = result.perplexity
        record_values[(side, "valid")] = alone.perplexity
    note = f"valid: its first {len(head)} of {len(lines)} records only · ctrl+e: full valid and test"
    return PerplexityTable(values, splits=("valid",), note=note, record_values=record_values), loaded_tuned


def _relay(on_progress: Callable[[str, int, int], None]) -> Callable[[Progress], None]:
    """The engine's ``Progress`` events as the (label, done, total) the panels show (an unknown total as 1)."""
    return lambda event: on_progress(event.stage, event.done, event.total if event.total is not None else 1)

def run_sweep(
    *,
    run_dir: Path | None,
    models: Mapping[str, LoadedModel],
    side: Side,
    data_dir: Path | None,
    param: str,
    values: Sequence[float] | None,
    n: int,
    config: SamplingConfig,
    on_progress: Callable[[str, int, int], None],
    cancel: threading.Event,
    precision: str = "auto",
) -> SweepResult:
    """Diversity against ``param``: the engine's ``sweep`` for a trained run (both curves, cached in the run),
    else the same engine sweep for the loaded model alone, on ``data_dir`` (nothing saved)."""
    from tweetsmith.engine import experiments
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.runs import has_final_model

    report = _relay(on_progress)
    if run_dir is not None and has_final_model(run_dir):
        return experiments.sweep(run_dir, param, values, n=n, config=config, base=models.get("base"),
                                 tuned=models.get("tuned"), on_progress=report, cancel=cancel, precision=precision)
    if data_dir is None or not SplitDir(data_dir).test.is_file():
        raise ConfigError("a sweep needs data with train.txt and test.txt; start with --data DIR or open a run")
    if models.get(side) is None:
        raise ConfigError("no model loaded yet; try again when the header shows one")
    return experiments.sweep(None, param, values, n=n, config=config, sides=(side,), data_dir=data_dir,
                             **{side: models[side]}, on_progress=report, cancel=cancel)
