"""DIR/assignment.json: what each stage of ``tweetsmith assignment`` was computed from, and how long it took.

A stage is skipped when its recorded key equals the key of what it depends on now (and its result is
still there); the per-stage wall times end up in the report. Written atomically after every stage, so
a kill leaves the record of every stage that finished.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .card import file_sha256
from .paths import home
from .runs import read_json, write_json_atomic


@dataclass(frozen=True)
class StageTime:
    """One stage's entry: ``seconds`` is the wall time of the invocation that finished it; ``cached`` says
    the last invocation found it done and computed nothing."""

    stage: str
    seconds: float
    cached: bool
    key: str = ""


def content_key(settings: Any, files: Iterable[str | Path] = ()) -> str:
    """sha256 over JSON-able settings and the bytes of ``files`` (hashes remembered by path, size, mtime)."""
    memo = home() / "hashes.json"
    digests = [file_sha256(f, memo) for f in files]
    payload = json.dumps([settings, digests], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class StageRecord:
    """The stages of one assignment directory, read at start and rewritten after each stage."""

    def __init__(self, path: Path):
        self.path = path
        raw = read_json(path)
        stages = raw.get("stages") if isinstance(raw, dict) else None
        self.stages: dict[str, StageTime] = {}
        for name, entry in (stages or {}).items():
            try:
                self.stages[name] = StageTime(
                    name, float(entry["seconds"]), bool(entry["cached"]), str(entry.get("key", ""))
                )
            except (KeyError, TypeError, ValueError):
                continue  # a damaged entry: the stage runs again

    def key(self, stage: str) -> str | None:
        entry = self.stages.get(stage)
        return entry.key if entry else None

    def finished(self, stage: str, seconds: float, *, key: str = "", cached: bool = False) -> StageTime:
        """Record a finished stage (a cached one keeps the time of the run that computed it)."""
        before = self.stages.get(stage)
        if cached and before is not None:
            seconds = before.seconds
        entry = self.stages[stage] = StageTime(stage, seconds, cached, key)
        self.save()
        return entry

    def started(self, stage: str, key: str) -> None:
        """Record the key a stage is computing for before it finishes (a killed training resumes by it)."""
        self.stages[stage] = StageTime(stage, 0.0, False, key)
        self.save()

    def forget(self, stages: Iterable[str]) -> None:
        for stage in stages:
            self.stages.pop(stage, None)
        self.save()

    def save(self) -> None:
        write_json_atomic(
            self.path,
            {
                "stages": {
                    s.stage: {"seconds": round(s.seconds, 3), "cached": s.cached, "key": s.key}
                    for s in self.stages.values()
                }
            },
        )
