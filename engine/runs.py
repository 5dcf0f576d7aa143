"""Run directories: ``runs/<name>/`` with config.json, metrics.jsonl, checkpoints/, final/, samples/, ...

This module owns the layout so training, evaluation, the CLI and the app agree on where things are.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError


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
        return self.root / "eval.json"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def report(self) -> Path:
        return self.root / "report.md"


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The run's config.json (written by training): model spec, method, data dir, hyper-parameters."""
    paths = RunPaths(Path(run_dir))
    if not paths.config.is_file():
        raise ModelError(f"{run_dir}: not a run directory (no config.json); train one with `tweetsmith train --out {run_dir}`")
    try:
        return json.loads(paths.config.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelError(f"{paths.config}: broken JSON ({err}); re-run training or fix the file") from None


def load_run_model(run_dir: str | Path, *, tuned: bool = True, **kwargs):
    """Load a run's base model (``tuned=False``) or its fine-tuned result: base + adapter, or the full model."""
    from .models import load_model

    config = read_run_config(run_dir)
    paths = RunPaths(Path(run_dir))
    base_spec = config["model"]
    if not tuned:
        return load_model(base_spec, **kwargs)
    if not paths.final.is_dir():
        raise ModelError(f"{run_dir}: no final/ model yet; finish training or pass --resume to continue it")
    if (paths.final / "adapter_config.json").is_file():
        return load_model(base_spec, adapter=paths.final, quantize=config.get("quantize"), **kwargs)
    return load_model(str(paths.final), **kwargs)


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
