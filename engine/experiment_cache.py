"""Experiment results read back from a run: RUN/eval.json, compare.json, sweep-<param>.json (and voice.json
through ``voice_run``), each only while it still describes the run's current final/ model.

Its own module because everything that shows a figure asks it before computing anything (the report, the
assignment's stages, the app's perplexity table), and reading a cache must not load a model or import
the experiments that write it. A missing, broken, foreign or stale file is no cache: the caller computes
the figure again.
"""

from __future__ import annotations

from pathlib import Path

from .decode_loop import DECODE_VERSION
from .results import PerplexityComparison, SampleComparison, SweepResult
from .runs import RunPaths, final_mtime, read_json


def cached_comparison(run_dir: str | Path) -> PerplexityComparison | None:
    """RUN/eval.json if present and still describing the current final/ model, else None (loads nothing)."""
    return cached_result(run_dir, RunPaths(Path(run_dir)).eval, PerplexityComparison)


def cached_samples(run_dir: str | Path) -> SampleComparison | None:
    """RUN/compare.json as a ``SampleComparison`` while it describes the current final/, else None."""
    return cached_result(run_dir, RunPaths(Path(run_dir)).compare, SampleComparison)


def cached_sweep(run_dir: str | Path, param: str) -> SweepResult | None:
    """RUN/sweep-<param>.json as a ``SweepResult`` while it describes the current final/, else None."""
    return cached_result(run_dir, RunPaths(Path(run_dir)).sweep(param), SweepResult)


def cached_result(run_dir: str | Path, path: Path, kind):
    """A cache file read back as ``kind``; a missing, broken or foreign file is no cache (computed again),
    and so is one computed before final/ last changed (the model was retrained since) or, for samples, by
    an older decoding loop (``DECODE_VERSION``)."""
    raw = read_json(path)
    if not isinstance(raw, dict):
        return None
    try:
        cached = kind.from_json(raw)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None
    mtime = final_mtime(run_dir)
    if mtime is not None and (cached.final_mtime is None or mtime > cached.final_mtime + 1e-6):
        return None
    if getattr(cached, "decode_version", DECODE_VERSION) != DECODE_VERSION:
        return None  # samples drawn by an older decoding loop
    return cached
