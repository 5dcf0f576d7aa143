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
from typing import Any, Callable, Mapping

from .display import short_path

SPLITS = ("valid", "test")


SIDES = ("base", "tuned")


@dataclass(frozen=True)
class PerplexityTable:
    values: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (side, split) -> perplexity
    splits: tuple[str, ...] = SPLITS
    note: str = ""  # where the numbers come from, e.g. "cached in runs/vc/eval.json"

    def get(self, side: str, split: str) -> float | None:
        return self.values.get((side, split))

    def change(self, split: str) -> float | None:
        """Tuned vs base, in percent (negative: the tuned model is less surprised)."""
        base, tuned = self.get("base", split), self.get("tuned", split)
        if base is None or tuned is None or base == 0:
            return None
        return 100.0 * (tuned - base) / base


def table_from_comparison(comparison: Mapping[str, Any], note: str = "") -> PerplexityTable:
    """Read the engine's comparison dict, whichever of its known shapes it has.

    Shapes accepted: ``{"base": {"valid": {"perplexity": x} | x, ...}, "tuned": {...}}``, optionally
    nested under ``"perplexity"``, or flat ``{"base_valid": x, ...}``.
    """
    source = comparison.get("perplexity", comparison) if isinstance(comparison, Mapping) else {}
    values: dict[tuple[str, str], float] = {}
    for side in SIDES:
        per_side = source.get(side)
        for split in SPLITS:
            raw = per_side.get(split) if isinstance(per_side, Mapping) else source.get(f"{side}_{split}")
            value = _perplexity_value(raw)
            if value is not None:
                values[(side, split)] = value
    return PerplexityTable(values, note=note)


def _perplexity_value(raw: Any) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, Mapping):
        return _perplexity_value(raw.get("perplexity"))
    value = getattr(raw, "perplexity", None)
    return float(value) if value is not None else None


def cached_table(run_dir: Path | None) -> PerplexityTable | None:
    """The run's cached comparison, if the engine has one (no model is loaded)."""
    if run_dir is None:
        return None
    from tweetsmith.engine.experiments import cached_comparison

    cached = cached_comparison(run_dir)
    if not cached:
        return None
    return table_from_comparison(cached, note=f"cached in {short_path(Path(run_dir) / 'eval.json')}")


def compute_table(
    *,
    run_dir: Path | None,
    models: Mapping[str, Any],
    data_dir: Path | None,
    on_progress: Callable[[str, int, int], None],
    cancel: threading.Event,
) -> PerplexityTable:
    """Base vs tuned for a run (cached by the engine), else the loaded models on ``data_dir``'s splits."""
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.perplexity import perplexity_of_file

    if run_dir is not None:
        from tweetsmith.engine.experiments import compare_perplexity, has_tuned_model
        from tweetsmith.engine.runs import read_run_config

        if has_tuned_model(run_dir):
            # Reuse the models the app holds when they are the run's (else the engine loads them).
            base = models.get("base")
            if base is not None and base.info.spec != read_run_config(run_dir).get("model"):
                base = None
            comparison = compare_perplexity(run_dir, base=base, tuned=models.get("tuned"),
                                            on_progress=_progress_adapter(on_progress), cancel=cancel)
            return table_from_comparison(comparison, note=f"saved to {short_path(Path(run_dir) / 'eval.json')}")

    if data_dir is None:
        raise ConfigError("no data directory to evaluate on; start with --data DIR or open a run with /run")
    values: dict[tuple[str, str], float] = {}
    jobs = [(side, split) for side in SIDES if side in models for split in SPLITS]
    for side, split in jobs:
        if cancel.is_set():
            break
        label = f"{side} · {split}"
        result = perplexity_of_file(
            models[side], Path(data_dir) / f"{split}.txt", cancel=cancel,
            on_progress=lambda done, total, label=label: on_progress(label, done, total),
        )
        if cancel.is_set():
            break  # a cancelled pass scored only part of the file: not its perplexity
        values[(side, split)] = result.perplexity
    return PerplexityTable(values, note=f"on {short_path(Path(data_dir))} (not cached: no trained run yet)")


def quick_table(
    *,
    run_dir: Path,
    models: Mapping[str, Any],
    records: int,
    on_progress: Callable[[str, int, int], None],
    cancel: threading.Event,
) -> tuple[PerplexityTable, Any]:
    """Base vs tuned on the first ``records`` records of the run's valid split (nothing cached).

    Uses the models the app holds when they are the run's and loads the others; returns the table and
    the tuned model if it loaded it (else None), so the app can keep it for ctrl+b.
    """
    from tweetsmith.data.records import read_split_lines
    from tweetsmith.engine.experiments import run_data_dir
    from tweetsmith.engine.perplexity import perplexity_of_lines
    from tweetsmith.engine.runs import load_run_model, read_run_config

    lines = read_split_lines(run_data_dir(run_dir) / "valid.txt")
    head = lines[:records]
    given = dict(models)
    base = given.get("base")
    if base is not None and base.info.spec != read_run_config(run_dir).get("model"):
        given.pop("base")
    values: dict[tuple[str, str], float] = {}
    loaded_tuned = None
    for side in SIDES:
        if cancel.is_set():
            break
        loaded = given.get(side)
        if loaded is None:
            on_progress(f"loading the {side} model", 0, 1)
            loaded = load_run_model(run_dir, tuned=(side == "tuned"))
            if side == "tuned":
                loaded_tuned = loaded
        label = f"{side} · valid[:{len(head)}]"
        result = perplexity_of_lines(
            loaded.model, loaded.tokenizer, head, eot_id=loaded.eot_id, pad_id=loaded.pad_id, cancel=cancel,
            on_progress=lambda done, total, label=label: on_progress(label, done, total),
        )
        if cancel.is_set():
            break
        values[(side, "valid")] = result.perplexity
    note = f"valid: its first {len(head)} of {len(lines)} records only · ctrl+e: full valid and test"
    return PerplexityTable(values, splits=("valid",), note=note), loaded_tuned


def _progress_adapter(on_progress: Callable[[str, int, int], None]) -> Callable[..., None]:
    """The engine reports progress as (done, total) or (label, done, total); the panel wants the latter."""

    def report(*args: Any) -> None:
        if len(args) == 3:
            on_progress(str(args[0]), int(args[1]), int(args[2]))
        elif len(args) == 2:
            on_progress("perplexity", int(args[0]), int(args[1]))
        elif len(args) == 1:  # an event object
            event = args[0]
            on_progress(str(getattr(event, "label", "perplexity")), int(getattr(event, "done", 0)), int(getattr(event, "total", 1)))

    return report

def run_sweep(
    *,
    run_dir: Path | None,
    models: Mapping[str, Any],
    side: str,
    data_dir: Path | None,
    param: str,
    values: Any,
    n: int,
    config: Any,
    on_progress: Callable[[str, int, int], None],
    cancel: threading.Event,
) -> dict:
    """Diversity against ``param``: the engine's ``sweep`` for a trained run (both curves, cached in the run),
    else the same engine sweep for the loaded model alone, on ``data_dir`` (nothing saved).

    Returns the engine's shape: ``{"param", "values", "n", "curves": {side: [{"value", "dist_1", ...}]}}``.
    """
    from tweetsmith.engine import experiments
    from tweetsmith.engine.errors import ConfigError

    report = _progress_adapter(on_progress)
    if run_dir is not None and experiments.has_tuned_model(run_dir):
        return experiments.sweep(run_dir, param, values, n=n, config=config, base=models.get("base"),
                                 tuned=models.get("tuned"), on_progress=report, cancel=cancel)
    if data_dir is None or not (Path(data_dir) / "test.txt").is_file():
        raise ConfigError("a sweep needs data with train.txt and test.txt; start with --data DIR or open a run")
    if models.get(side) is None:
        raise ConfigError("no model loaded yet; try again when the header shows one")
    return experiments.sweep(None, param, values, n=n, config=config, sides=(side,), data_dir=data_dir,
                             **{side: models[side]}, on_progress=report, cancel=cancel)
