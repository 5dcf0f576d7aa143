"""The engine's one progress event: how far a slow stage has got.

Training (loading, encoding, evaluating the valid split), the experiments (scoring a split, generating
samples, indexing the train split) and the memorisation index all report with ``Progress``, so the CLI
and the app show every stage with the same code. Inner loops that only count (perplexity windows,
generated samples) take a plain ``(done, total)`` callback; the function that knows which stage they
are wraps it with ``counting``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of ``stage`` (``total`` None while unknown, e.g. while a model loads)."""

    stage: str  # "loading model", "base · valid", "tuned samples", "indexing train.txt (sorting)"
    done: int
    total: int | None
    unit: str = ""  # "records", "windows", "samples", ... ("" when the stage names it)


ProgressFn = Callable[[Progress], None]


def counting(on_progress: ProgressFn | None, stage: str, unit: str = "") -> Callable[[int, int], None] | None:
    """A ``(done, total)`` callback that sends ``Progress(stage, done, total, unit)`` (None when nobody listens)."""
    if on_progress is None:
        return None
    return lambda done, total: on_progress(Progress(stage, done, total, unit))


def format_duration(seconds: float | None, unknown: str = "?") -> str:
    """``5s``, ``1m05s``, ``1h02m``: how long, as every progress line and table shows it."""
    if seconds is None:
        return unknown
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
