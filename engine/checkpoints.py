"""Checkpoints that survive a kill: written under ``checkpoints/.incomplete/`` and renamed into place.

A ``checkpoint-N`` directory directly under ``checkpoints/`` is complete by construction: the Trainer's
files (weights or adapter, optimizer, scheduler, RNG states, trainer_state.json) and last our marker
``tweetsmith.json`` (step, valid perplexity if evaluated at that step) are all written before the
rename. A directory without the marker (copied by hand, or written by an older tool) is treated as
incomplete and skipped by ``--resume``. Rotation keeps the newest K plus the best.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .runs import write_json_atomic

PREFIX = "checkpoint-"
STAGING = ".incomplete"
MARKER = "tweetsmith.json"
TRAINER_STATE = "trainer_state.json"
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "adapter_model.safetensors",
    "pytorch_model.bin",
    "adapter_model.bin",
)


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path
    valid_perplexity: float | None


def step_of(path: Path) -> int:
    """The optimizer step a ``checkpoint-N`` directory holds."""
    match = re.fullmatch(rf"{PREFIX}(\d+)", Path(path).name)
    if match is None:  # callers pass checkpoints found by this module: a bug, not a user's mistake
        raise ValueError(f"{path}: not a {PREFIX}N directory")
    return int(match.group(1))


def is_complete(path: Path) -> bool:
    return (
        (path / MARKER).is_file()
        and (path / TRAINER_STATE).is_file()
        and any((path / name).is_file() for name in WEIGHT_FILES)
    )


def _read_marker(path: Path) -> dict:
    try:
        return json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def list_checkpoints(directory: Path) -> list[Checkpoint]:
    """Complete checkpoints under ``directory``, oldest step first."""
    found: list[Checkpoint] = []
    if not directory.is_dir():
        return found
    for path in directory.iterdir():
        match = re.fullmatch(rf"{PREFIX}(\d+)", path.name)
        if match and path.is_dir() and is_complete(path):
            ppl = _read_marker(path).get("valid_perplexity")
            found.append(Checkpoint(int(match.group(1)), path, float(ppl) if ppl is not None else None))
    return sorted(found, key=lambda c: c.step)


def newest(directory: Path) -> Checkpoint | None:
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def best(directory: Path) -> Checkpoint | None:
    """The complete checkpoint with the lowest valid perplexity (None when none was evaluated)."""
    scored = [c for c in list_checkpoints(directory) if c.valid_perplexity is not None]
    return min(scored, key=lambda c: (c.valid_perplexity, -c.step)) if scored else None


def has_any(directory: Path) -> bool:
    """Whether ``directory`` holds checkpoints of any kind (complete or not), to refuse overwriting a run."""
    return directory.is_dir() and any(p.name.startswith(PREFIX) for p in directory.iterdir())


def staging_root(directory: Path) -> Path:
    return directory / STAGING


def clear_staging(directory: Path) -> None:
    """Remove what an interrupted save left behind (never a complete checkpoint)."""
    shutil.rmtree(staging_root(directory), ignore_errors=True)


def publish(staged: Path, directory: Path, *, step: int, valid_perplexity: float | None) -> Path:
    """Write the marker into the staged checkpoint and rename it to ``directory/checkpoint-<step>``."""
    write_json_atomic(staged / MARKER, {"step": step, "valid_perplexity": valid_perplexity})
    target = directory / f"{PREFIX}{step}"
    if target.exists():  # the same step saved again (a stop right after a scheduled save): swap
        old = staging_root(directory) / f"old-{PREFIX}{step}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, target)
    return target


def rotate(directory: Path, *, keep: int, best_step: int | None) -> list[Path]:
    """Delete complete checkpoints beyond the newest ``keep``, never the best one; returns what was removed."""
    checkpoints = list_checkpoints(directory)
    keep_steps = {c.step for c in checkpoints[-keep:]} if keep > 0 else set()
    if best_step is not None:
        keep_steps.add(best_step)
    removed = []
    staging = staging_root(directory)
    for checkpoint in checkpoints:
        if checkpoint.step not in keep_steps:
            # Out of sight first: a kill in the middle of the delete must not leave half a checkpoint-N.
            doomed = staging / f"old-{checkpoint.path.name}"
            shutil.rmtree(doomed, ignore_errors=True)
            staging.mkdir(exist_ok=True)
            os.replace(checkpoint.path, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            removed.append(checkpoint.path)
    try:
        staging.rmdir()  # only when empty: a save in progress keeps its staging directory
    except OSError:
        pass
    return removed
