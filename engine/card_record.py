"""The run card's record, ``RUN/card.json``, as one frozen type: ``Card`` and its parts.

``engine.card`` gathers the facts, writes the card (through ``Card.write``) and renders card.md from it;
``tweetsmith runs`` lists runs from it. This module is the only reader and writer of card.json, so each key
is spelled once and a card tweetsmith does not understand is a one-line ``ModelError`` naming the file
and the key (``json_record``). Cards of earlier versions load: ``stopped_early`` came later (None), the
flags of an older ``TrainConfig`` lack the newer ones (their defaults) and may hold ``pack`` true/false.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError
from .json_record import checked_fields, read_json_object
from .run_record import OLD_PACK, RunRecord
from .runs import RunPaths, write_json_atomic
from .train_config import TrainConfig

FIX = "delete card.json (training writes a new one when it resumes), or edit that key in the file"


@dataclass(frozen=True)
class SplitSize:
    records: int  # non-blank lines
    bytes: int


@dataclass(frozen=True)
class CardData:
    """The data directory trained on and a sha256 over its split files (name and bytes, train/valid/test)."""

    dir: str
    sha256: str
    splits: Mapping[str, SplitSize]  # split name -> its size

    def to_json(self) -> dict[str, Any]:
        return {
            "dir": self.dir,
            "sha256": self.sha256,
            "splits": {k: dataclasses.asdict(v) for k, v in self.splits.items()},
        }

    @classmethod
    def from_json(cls, d: Any, source: str) -> CardData:
        values = checked_fields(cls, d, source, FIX)
        if not isinstance(values["splits"], Mapping):
            raise ModelError(f"{source}.splits: not a JSON object; {FIX}")
        return cls(
            dir=values["dir"],
            sha256=values["sha256"],
            splits={
                name: SplitSize(**checked_fields(SplitSize, size, f"{source}.splits.{name}", FIX))
                for name, size in values["splits"].items()
            },
        )


@dataclass(frozen=True)
class CardModel:
    """The base model actually loaded: its spec, where it came from, and its weights file's sha256."""

    spec: str
    source: str
    location: str
    weights_file: str | None  # None: no file could be found for it (then no hash either)
    weights_sha256: str | None
    weights_bytes: int | None


@dataclass(frozen=True)
class CardResults:
    """What the run gave, written when it ends (``finish_card``)."""

    steps: int
    seconds: float
    tokens_seen: int
    tokens_seen_estimated: bool  # steps x batch x accumulation x processes x block, not counted
    result_dir: str
    final_loss: float | None
    final_step_logged: int | None
    final_valid_perplexity: float | None
    best_valid_perplexity: float | None
    best_step: int | None
    stopped_early: str | None = None  # why early stopping ended the run (cards before --early-stopping: None)


@dataclass(frozen=True)
class Card:
    """RUN/card.json: what a run was made from and what it gave."""

    run: str
    status: str  # running, completed or stopped
    started: str
    resumed: str | None  # when the last resume began
    resumed_from: str | None  # the checkpoint it resumed from
    ended: str | None
    data: CardData
    model: CardModel
    method: str  # full, lora or qlora
    flags: TrainConfig  # as asked: the flags of the command
    resolved: RunRecord | None  # what training made of them (the run record as it started); None: not known
    libraries: Mapping[str, str | None]  # name -> installed version (None: not installed)
    device: str
    precision: str
    reproduce: str  # the one command that makes this run again
    results: CardResults | None  # None while running (or when it ended without finishing the card)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "status": self.status,
            "started": self.started,
            "resumed": self.resumed,
            "resumed_from": self.resumed_from,
            "ended": self.ended,
            "data": self.data.to_json(),
            "model": dataclasses.asdict(self.model),
            "method": self.method,
            "flags": dataclasses.asdict(self.flags),
            "resolved": self.resolved.to_json() if self.resolved else {},
            "libraries": dict(self.libraries),
            "device": self.device,
            "precision": self.precision,
            "reproduce": self.reproduce,
            "results": dataclasses.asdict(self.results) if self.results else None,
        }

    @classmethod
    def from_json(cls, d: Any, source: str | Path = "card.json") -> Card:
        source = str(source)
        values = checked_fields(cls, d, source, FIX)
        flags = checked_fields(TrainConfig, values["flags"], f"{source}.flags", FIX)
        if isinstance(flags.get("pack"), bool):
            flags["pack"] = OLD_PACK[flags["pack"]]
        results = values["results"]
        return cls(
            **{
                **values,
                "data": CardData.from_json(values["data"], f"{source}.data"),
                "model": CardModel(**checked_fields(CardModel, values["model"], f"{source}.model", FIX)),
                "flags": TrainConfig(**flags),
                "resolved": RunRecord.from_json(values["resolved"], source=f"{source}.resolved", fix=FIX)
                if values["resolved"]
                else None,
                "results": CardResults(**checked_fields(CardResults, results, f"{source}.results", FIX))
                if results
                else None,
            }
        )

    @classmethod
    def read(cls, run_dir: str | Path) -> Card | None:
        """``run_dir``'s card, None when it has none; a card that cannot be read is a ModelError naming the key."""
        path = RunPaths(Path(run_dir)).card
        if not path.is_file():
            return None
        return cls.from_json(read_json_object(path, FIX), source=path)

    def write(self, run_dir: str | Path) -> None:
        write_json_atomic(RunPaths(Path(run_dir)).card, self.to_json())
