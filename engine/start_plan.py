"""What the app opens on, and how it loads it: an explicit run or model, else the last run under the runs
root, else the default model.

Plain functions the app's loading worker calls. The data: the ``--data`` directory, else the run's
recorded one, else (None) the built-in corpus (``data_cache.builtin_data_dir``). The run directory's
layout is ``engine.runs``'s to know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .run_record import recorded_data_dir
from .runs import RunPaths, has_final_model, is_run_dir

if TYPE_CHECKING:
    from .models import LoadedModel
    from .sides import Side


@dataclass(frozen=True)
class StartPlan:
    """What to load: a run (its tuned model when it has one) or a model spec, and the data directory."""

    run_dir: Path | None
    model_spec: str | None
    data_dir: Path | None  # None: prepare the built-in corpus
    side: Side  # the side the chat starts on: "tuned" for a run with a final model, else "base"


def last_run(root: Path) -> Path | None:
    """The most recently modified run directory under ``root`` (by its config record's time)."""
    if not root.is_dir():
        return None
    runs = [p for p in root.iterdir() if is_run_dir(p)]
    return max(runs, key=lambda p: RunPaths(p).config.stat().st_mtime, default=None)


def plan_start(model_spec: str | None, run_dir: Path | None, data_dir: Path | None, runs_root: Path) -> StartPlan:
    """Decide what to open; an explicit ``--model`` wins over the last run."""
    if run_dir is None and model_spec is None:
        run_dir = last_run(runs_root)
    if run_dir is not None:
        data = data_dir or recorded_data_dir(run_dir)
        side: Side = "tuned" if has_final_model(run_dir) else "base"
        return StartPlan(Path(run_dir), None, data, side)
    return StartPlan(None, model_spec, data_dir, "base")


def load_side_model(
    side: Side, run_dir: Path | None, spec: str | None, progress: Callable[[str], None], precision: str = "auto"
) -> LoadedModel:
    """One side of a run (its base, or base + its tuned adapter), else the model ``spec`` names; in the
    precision that is faster here with ``auto`` (measured once per machine: bf16 or fp32 on a CPU)."""
    from .models import DEFAULT_MODEL, load_model, load_run_model

    if run_dir is not None:
        return load_run_model(run_dir, tuned=(side == "tuned"), precision=precision, progress=progress)
    return load_model(spec or DEFAULT_MODEL, precision=precision, progress=progress)
