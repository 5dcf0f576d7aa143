"""Run directories: the one module that knows what a run holds and where.

``runs/<name>/`` has config.json (the run record: model spec, method, data dir, hyper-parameters),
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

from tweetsmith.data.split import SplitDir

from .errors import ConfigError, ModelError


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


# --- the run record -----------------------------------------------------------------------------------


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a run directory (it has the config record training writes first)."""
    return RunPaths(Path(path)).config.is_file()


def is_tweetsmith_run(path: str | Path) -> bool:
    """Whether ``path`` holds a run record tweetsmith wrote (a model folder has a config.json too, without
    the keys of ours): the test before anything is written into a directory someone gives as ``--out``."""
    record = read_json(RunPaths(Path(path)).config)
    return isinstance(record, dict) and "requested_model" in record and "method" in record


def check_run_out(path: str | Path) -> None:
    """Refuse, with one line and nothing changed, an ``--out`` that is neither missing, empty, nor a run of
    tweetsmith's: training writes config.json and metrics.jsonl there and would replace someone's files."""
    from .dir_lock import LOCK_FILE

    root = Path(path)
    if not root.exists():
        return
    if not root.is_dir():
        raise ConfigError(f"--out {root} is a file, not a directory; choose a new directory for the run")
    others = sorted(p.name for p in root.iterdir() if p.name != LOCK_FILE)
    if others and not is_tweetsmith_run(root):
        shown = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
        raise ConfigError(f"--out {root} is not a tweetsmith run (it holds {shown}); give a new or empty directory")


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The run's config.json (written by training): model spec, method, data dir, hyper-parameters."""
    paths = RunPaths(Path(run_dir))
    if not paths.config.is_file():
        raise ModelError(f"{run_dir}: not a run directory (no config.json); train one with `tweetsmith train --out {run_dir}`")
    try:
        return json.loads(paths.config.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelError(f"{paths.config}: broken JSON ({err}); re-run training or fix the file") from None


def recorded_data_dir(run_dir: str | Path) -> Path | None:
    """The data directory the run's config.json names (None when it names none), not checked.

    A relative path is taken as written when it exists from here, else relative to the run directory."""
    config = read_run_config(run_dir)
    data = config.get("data") or config.get("data_dir")
    if not data:
        return None
    path = Path(data)
    if not path.is_absolute() and not path.exists():
        path = Path(run_dir) / data
    return path


def run_data_dir(run_dir: str | Path) -> Path:
    """The data directory the run was trained on, checked to hold the splits (else ConfigError)."""
    path = recorded_data_dir(run_dir)
    if path is None:
        raise ConfigError(f"{run_dir}/config.json has no \"data\" entry; it should name the split directory")
    if not SplitDir(path).test.is_file():
        raise ConfigError(f"{path}: no test.txt; the run's data directory must hold train/valid/test.txt (run `tweetsmith prepare`)")
    return path


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
