"""Run directories: the one module that knows what a run holds and where.

``runs/<name>/`` has config.json (the run record, ``engine.run_record.RunRecord``, its only reader and writer),
metrics.jsonl (one JSON line per logged step), card.json and card.md, checkpoints/, final/ (the tuned model: an adapter or a
full model), samples/, the experiment caches (eval.json, compare.json, sweep-<param>.json, voice.json), plots/,
report.md and cache/ (encoded splits). Training, the experiments, the CLI and the app ask this module
instead of joining paths themselves, so the layout can change in one place.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def final(self) -> Path:
        return self.root / "final"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def eval(self) -> Path:
        """The cached perplexity comparison (``results.PerplexityComparison``)."""
        return self.root / "eval.json"

    @property
    def compare(self) -> Path:
        """The cached sample comparison (``results.SampleComparison``)."""
        return self.root / "compare.json"

    def sweep(self, param: str) -> Path:
        """The cached sweep of ``param`` (``results.SweepResult``)."""
        return self.root / f"sweep-{param}.json"

    @property
    def voice(self) -> Path:
        """The cached voice measures (``voice_results.VoiceResult``)."""
        return self.root / "voice.json"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def card(self) -> Path:
        """What the run was made from and what it gave (``engine.card``); card.md is its readable twin."""
        return self.root / "card.json"

    @property
    def card_md(self) -> Path:
        return self.root / "card.md"

    @property
    def cache(self) -> Path:
        """Encoded splits, keyed by tokenizer and data (training reuses them on resume)."""
        return self.root / "cache"


# --- which folders are runs -----------------------------------------------------------------------------------


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a run directory (it has the config record training writes first)."""
    return RunPaths(Path(path)).config.is_file()


# --- the tuned model --------------------------------------------------------------------------------


def has_final_model(run_dir: str | Path) -> bool:
    """Whether training got as far as writing final/ (the tuned model the app and the experiments use)."""
    return RunPaths(Path(run_dir)).final.is_dir()


def final_mtime(run_dir: str | Path) -> float | None:
    """When final/ last changed (its newest file), None without one: a cache older than this is stale."""
    final = RunPaths(Path(run_dir)).final
    if not final.is_dir():
        return None
    return max((p.stat().st_mtime for p in final.iterdir()), default=final.stat().st_mtime)


# --- metrics.jsonl ----------------------------------------------------------------------------------


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The lines of RUN/metrics.jsonl, oldest first; [] when there is none or it is unreadable.

    Each line holds one step's fields (``step``, and ``loss``/``lr``/``tokens_per_s`` when logged,
    ``valid_perplexity`` when evaluated): a line's keys depend on what happened at that step."""
    from .jsonl import BrokenJsonLines, read_jsonl_records

    try:
        return [r for r in read_jsonl_records(RunPaths(Path(run_dir)).metrics) if isinstance(r, dict)]
    except (OSError, BrokenJsonLines):
        return []


def trim_metrics(run_dir: str | Path, max_step: int) -> None:
    """Keep the metrics lines of steps up to ``max_step`` (atomically): a resumed run logs the later ones again."""
    from .jsonl import read_jsonl_records

    path = RunPaths(Path(run_dir)).metrics
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").split("\n") if line.strip()]
    kept = [r for r in read_jsonl_records(path) if isinstance(r, dict) and r.get("step", 0) <= max_step]
    if len(kept) != len(lines):  # a torn last line (a kill mid-write) goes too
        write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))


# --- writing ----------------------------------------------------------------------------------------


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON to a temp file beside ``path`` and rename it into place."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: str | Path) -> Any | None:
    """A cache file's JSON, or None when it is missing or broken (the caller recomputes)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
